package introspect

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
)

// Key names one cached schema: where the session's server is, its database and user, and
// the search_path it started with (a session that changes its search_path or role later is
// still served right: the freshness check reads the effective role and schema list and keys
// the entry by them too).
type Key struct {
	Upstream   string
	Database   string
	User       string
	SearchPath string
}

// Fingerprint identifies a schema's content: equal schemas have equal fingerprints. Use it in
// cache keys of anything derived from the schema (a translation, a prompt's KV prefix).
type Fingerprint [sha256.Size]byte

// String is the fingerprint's first 16 hex digits.
func (f Fingerprint) String() string { return hex.EncodeToString(f[:8]) }

// Fingerprint hashes a canonical encoding of s.
func (s *Schema) Fingerprint() Fingerprint {
	b, err := json.Marshal(s)
	if err != nil { // cannot happen: Schema holds only strings, bools and slices
		panic(fmt.Sprintf("introspect: encode schema: %v", err))
	}
	return sha256.Sum256(b)
}

// CacheOptions shape a Cache.
type CacheOptions struct {
	// Load is passed to Load on a miss; its Schemas also bound the freshness check.
	Load Options
	// MaxEntries bounds the number of schemas kept (least recently used go first);
	// 0 means 256.
	MaxEntries int
	// Logger receives a Debug line per reload; nil discards.
	Logger *slog.Logger
}

// CacheStats counts Get outcomes.
type CacheStats struct {
	Hits, Misses int64
}

// Cache keeps schemas across sessions. Each Get costs one freshness query (one round trip
// reading per-catalog tuple counts and xmin sums of the relations, attributes, constraints
// and comments on the search_path, plus domain and enum types, enum labels, the schemas read and role memberships);
// when anything changed — DDL, COMMENT, GRANT/REVOKE, a role switch, a different search_path —
// Get reloads the schema with Load (one more round trip). Schemas returned are shared: treat
// them as read-only (Prune returns a copy).
type Cache struct {
	opts  CacheOptions
	log   *slog.Logger
	query string

	mu      sync.Mutex
	entries map[entryKey]*list.Element // value: *entry
	lru     *list.List
	stats   CacheStats
	pruners map[*Schema]*Pruner // for schemas in entries
}

type entryKey struct {
	Key
	role, schemas string
}

type entry struct {
	key    entryKey
	stamp  string
	schema *Schema
	fp     Fingerprint
}

// NewCache returns an empty cache.
func NewCache(opts CacheOptions) *Cache {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 256
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{
		opts:    opts,
		log:     log,
		query:   freshnessQuery(opts.Load),
		entries: map[entryKey]*list.Element{},
		lru:     list.New(),
		pruners: map[*Schema]*Pruner{},
	}
}

// Pruner returns a Pruner for s, kept with s while s is cached, so that pruning a large
// schema for each question skips the question-independent analysis. For a schema the cache
// does not hold (any more), it returns a fresh one.
func (c *Cache) Pruner(s *Schema) *Pruner {
	c.mu.Lock()
	p, ok := c.pruners[s]
	c.mu.Unlock()
	if ok {
		return p
	}
	p = NewPruner(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.pruners[s]; ok {
		return old
	}
	if c.holds(s) {
		c.pruners[s] = p
	}
	return p
}

func (c *Cache) holds(s *Schema) bool {
	for el := c.lru.Front(); el != nil; el = el.Next() {
		if el.Value.(*entry).schema == s {
			return true
		}
	}
	return false
}

// Stats returns the hit and miss counts so far.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Get returns the schema q's session sees, from the cache when the catalog has not changed
// since it was loaded, and its fingerprint.
func (c *Cache) Get(ctx context.Context, q Querier, key Key) (*Schema, Fingerprint, error) {
	st, err := readStamp(ctx, q, c.query)
	if err != nil {
		return nil, Fingerprint{}, err
	}
	ek := entryKey{Key: key, role: st.role, schemas: st.schemas}
	c.mu.Lock()
	if el, ok := c.entries[ek]; ok {
		e := el.Value.(*entry)
		if e.stamp == st.stamp {
			c.lru.MoveToFront(el)
			c.stats.Hits++
			c.mu.Unlock()
			return e.schema, e.fp, nil
		}
	}
	c.stats.Misses++
	c.mu.Unlock()

	// The stamp was read before the load: DDL in between makes the next Get reload again,
	// never serve a stale schema.
	s, err := Load(ctx, q, c.opts.Load)
	if err != nil {
		return nil, Fingerprint{}, err
	}
	e := &entry{key: ek, stamp: st.stamp, schema: s, fp: s.Fingerprint()}
	c.log.Debug("schema loaded", "database", key.Database, "user", key.User, "role", st.role,
		"schemas", st.schemas, "tables", len(s.Tables), "fingerprint", e.fp.String())

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[ek]; ok {
		delete(c.pruners, el.Value.(*entry).schema)
		el.Value = e
		c.lru.MoveToFront(el)
	} else {
		c.entries[ek] = c.lru.PushFront(e)
	}
	for c.lru.Len() > c.opts.MaxEntries {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*entry).key)
		delete(c.pruners, old.Value.(*entry).schema)
	}
	return e.schema, e.fp, nil
}

type stamp struct {
	role, schemas, stamp string
}

func readStamp(ctx context.Context, q Querier, sql string) (stamp, error) {
	rows, err := q.QueryText(ctx, sql)
	if err != nil {
		return stamp{}, fmt.Errorf("introspect freshness: %w", err)
	}
	if len(rows) != 1 || len(rows[0]) != 3 || rows[0][2] == nil {
		return stamp{}, fmt.Errorf("introspect freshness: %d rows: %w", len(rows), ErrUnexpectedResult)
	}
	return stamp{role: string(rows[0][0]), schemas: string(rows[0][1]), stamp: string(rows[0][2])}, nil
}

// FreshnessQuery returns the statement Cache runs on every Get (exported for benchmarks and
// for callers that want to log it).
func FreshnessQuery(opts Options) string { return freshnessQuery(opts) }

// freshnessQuery returns one row: the current role, the schema list read, and a stamp that
// changes whenever a catalog row that Load reads (or that decides privileges) is inserted,
// updated or deleted. Every such change writes a tuple with a new xmin or removes one, so
// count and xmin sum move; in-place updates (VACUUM/ANALYZE statistics) do not, so they
// cause no reload. Temporary tables of other sessions live in other namespaces and do not
// count either.
func freshnessQuery(opts Options) string {
	agg := func(alias string) string {
		return "pg_catalog.count(*)::text || ':' || coalesce(pg_catalog.sum(" + alias + ".xmin::text::int8), 0)::text"
	}
	return `WITH ` + nspCTE(opts) + `,
rel AS (
  SELECT c.oid, c.xmin FROM pg_catalog.pg_class c JOIN nsp ON nsp.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
)
SELECT current_user,
  (SELECT coalesce(pg_catalog.array_agg(nsp.nspname ORDER BY nsp.ord), '{}') FROM nsp)::text,
  pg_catalog.concat_ws('/',
    (SELECT ` + agg("r") + ` FROM rel r),
    (SELECT ` + agg("a") + ` FROM pg_catalog.pg_attribute a WHERE a.attrelid IN (SELECT oid FROM rel) AND a.attnum > 0),
    (SELECT ` + agg("k") + ` FROM pg_catalog.pg_constraint k WHERE k.conrelid IN (SELECT oid FROM rel)),
    (SELECT ` + agg("d") + ` FROM pg_catalog.pg_description d
       WHERE d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objoid IN (SELECT oid FROM rel)),
    (SELECT ` + agg("t") + ` FROM pg_catalog.pg_type t WHERE t.typtype IN ('d', 'e')),
    (SELECT ` + agg("e") + ` FROM pg_catalog.pg_enum e),
    (SELECT ` + agg("n") + ` FROM pg_catalog.pg_namespace n WHERE n.oid IN (SELECT oid FROM nsp)),
    (SELECT ` + agg("m") + ` FROM pg_catalog.pg_auth_members m)` + statsStamp(opts) + `)`
}

// statsStamp, with Options.Values, adds the number of pg_stats rows of the schemas read to the
// stamp, so that a table's first ANALYZE (autovacuum's included) brings its values in. Later
// ANALYZEs replace those rows without changing their number and cause no reload: the values stay those of the load.
func statsStamp(opts Options) string {
	if !opts.Values {
		return ""
	}
	return `,
    (SELECT pg_catalog.count(*)::text FROM pg_catalog.pg_stats st WHERE st.schemaname IN (SELECT nspname FROM nsp))`
}
