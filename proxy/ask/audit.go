package ask

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// AuditRecord is one ASK in the audit log: who asked what, the SQL, the outcome and where the
// time went. It never holds passwords or row data.
type AuditRecord struct {
	Time            time.Time `json:"time"`
	User            string    `json:"user"`
	Database        string    `json:"database"`
	Client          string    `json:"client"`
	Question        string    `json:"question"`
	SQL             string    `json:"sql,omitempty"`
	DryRun          bool      `json:"dry_run,omitempty"`
	Extended        bool      `json:"extended,omitempty"`
	Cached          bool      `json:"cached,omitempty"`
	Example         bool      `json:"example,omitempty"` // answered with a stored pair of pgask.examples, no model
	Teach           bool      `json:"teach,omitempty"`
	Repairs         int       `json:"repairs"`
	EmptyRepair     bool      `json:"empty_repair,omitempty"`
	VoteCandidates  int       `json:"vote_candidates,omitempty"`
	VoteVotes       int       `json:"vote_votes,omitempty"`
	Outcome         string    `json:"outcome"`
	Error           string    `json:"error,omitempty"`
	PromptTokens    int       `json:"prompt_tokens,omitempty"`
	ReusedTokens    int       `json:"reused_tokens,omitempty"`
	GeneratedTokens int       `json:"generated_tokens,omitempty"`
	IntrospectMS    float64   `json:"introspect_ms"`
	QueueMS         float64   `json:"queue_ms"`
	PromptMS        float64   `json:"prompt_ms"`
	GenerateMS      float64   `json:"generate_ms"`
	CheckMS         float64   `json:"check_ms"`
	ExecuteMS       float64   `json:"execute_ms"`
	TotalMS         float64   `json:"total_ms"`
}

// Record turns an Event into its audit record.
func (ev Event) Record() AuditRecord {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r := AuditRecord{
		Time: ev.Start.UTC(), User: ev.User, Database: ev.Database, Client: ev.Peer,
		Question: ev.Question, SQL: ev.SQL, DryRun: ev.DryRun, Extended: ev.Extended, Cached: ev.Cached,
		Example: ev.Example, Teach: ev.Teach,
		Repairs: max(ev.Attempts-1, 0), EmptyRepair: ev.EmptyRepair, Outcome: ev.Outcome,
		VoteCandidates: ev.VoteCandidates, VoteVotes: ev.VoteVotes,
		PromptTokens: ev.PromptTokens, ReusedTokens: ev.ReusedTokens, GeneratedTokens: ev.GeneratedTokens,
		IntrospectMS: ms(ev.Introspect), QueueMS: ms(ev.Translate.QueueWait), PromptMS: ms(ev.Translate.PromptEval),
		GenerateMS: ms(ev.Translate.Generation), CheckMS: ms(ev.Translate.Check), ExecuteMS: ms(ev.Execute),
		TotalMS: ms(ev.Total),
	}
	if ev.Err != nil {
		r.Error = ev.Err.Error()
	}
	return r
}

// Audit writes one JSON line per ASK to w. It is safe for concurrent use.
type Audit struct {
	mu  sync.Mutex
	enc *json.Encoder
	err error
}

// NewAudit returns an Audit writing to w.
func NewAudit(w io.Writer) *Audit { return &Audit{enc: json.NewEncoder(w)} }

// Observe records ev; use it as Options.Observe. A write error is kept (see Err) and the
// record dropped: auditing never fails an ASK.
func (a *Audit) Observe(ev Event) {
	rec := ev.Record()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.enc.Encode(rec); err != nil && a.err == nil {
		a.err = fmt.Errorf("write audit record: %w", err)
	}
}

// Err is the first write error, if any.
func (a *Audit) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}
