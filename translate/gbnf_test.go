package translate

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is a small GBNF recogniser for tests: it parses a grammar the way llama.cpp does
// (rejecting what llama.cpp rejects: undefined rules, left recursion, a line that starts with
// '|' outside parentheses) and decides with an Earley parser whether a string is in the
// grammar's language, so that generated grammars can be checked without llama.cpp.

type gbnfSym struct {
	rule   int // nonterminal index, or -1 for a terminal
	ranges []rune
	negate bool
}

func (s gbnfSym) matches(r rune) bool {
	in := false
	for i := 0; i+1 < len(s.ranges); i += 2 {
		if r >= s.ranges[i] && r <= s.ranges[i+1] {
			in = true
			break
		}
	}
	return in != s.negate
}

type gbnfGrammar struct {
	names    []string
	index    map[string]int
	prods    [][][]gbnfSym // per rule, alternatives
	nullable []bool
	lines    int
}

type gbnfParser struct {
	src  string
	pos  int
	g    *gbnfGrammar
	anon int
	used map[string]bool
}

func parseGBNF(src string) (*gbnfGrammar, error) {
	p := &gbnfParser{src: src, g: &gbnfGrammar{index: map[string]int{}}, used: map[string]bool{}}
	defined := map[string]bool{}
	for {
		p.skipSpace(true)
		if p.pos >= len(p.src) {
			break
		}
		name := p.name()
		if name == "" {
			return nil, fmt.Errorf("offset %d: expected rule name, found %q", p.pos, p.peek(10))
		}
		p.skipSpace(false)
		if !strings.HasPrefix(p.src[p.pos:], "::=") {
			return nil, fmt.Errorf("rule %s: expected ::=", name)
		}
		p.pos += 3
		p.skipSpace(true)
		alts, err := p.alternatives(0)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", name, err)
		}
		if defined[name] {
			return nil, fmt.Errorf("rule %s defined twice", name)
		}
		defined[name] = true
		id := p.ruleID(name)
		p.g.prods[id] = alts
		p.g.lines++
	}
	for n := range p.used {
		if !defined[n] && !strings.HasPrefix(n, "\x00") {
			return nil, fmt.Errorf("undefined rule %s", n)
		}
	}
	if _, ok := p.g.index["root"]; !ok {
		return nil, fmt.Errorf("no root rule")
	}
	p.g.computeNullable()
	if err := p.g.checkLeftRecursion(); err != nil {
		return nil, err
	}
	return p.g, nil
}

func (p *gbnfParser) peek(n int) string {
	e := min(p.pos+n, len(p.src))
	return p.src[p.pos:e]
}

func (p *gbnfParser) ruleID(name string) int {
	if id, ok := p.g.index[name]; ok {
		return id
	}
	id := len(p.g.names)
	p.g.index[name] = id
	p.g.names = append(p.g.names, name)
	p.g.prods = append(p.g.prods, nil)
	return id
}

// skipSpace skips blanks and comments, newlines too when nl.
func (p *gbnfParser) skipSpace(nl bool) {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case c == ' ' || c == '\t' || c == '\r' || (nl && c == '\n'):
			p.pos++
		default:
			return
		}
	}
}

func (p *gbnfParser) name() string {
	s := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			p.pos++
			continue
		}
		break
	}
	return p.src[s:p.pos]
}

// alternatives parses `seq (| seq)*`; at depth 0 a newline ends it, as in llama.cpp.
func (p *gbnfParser) alternatives(depth int) ([][]gbnfSym, error) {
	var alts [][]gbnfSym
	for {
		seq, err := p.sequence(depth)
		if err != nil {
			return nil, err
		}
		alts = append(alts, seq)
		p.skipSpace(depth > 0)
		if p.pos < len(p.src) && p.src[p.pos] == '|' {
			p.pos++
			p.skipSpace(true)
			continue
		}
		return alts, nil
	}
}

func (p *gbnfParser) sequence(depth int) ([]gbnfSym, error) {
	var seq []gbnfSym
	for {
		p.skipSpace(depth > 0)
		if p.pos >= len(p.src) {
			return seq, nil
		}
		c := p.src[p.pos]
		var item []gbnfSym // what a postfix operator applies to
		switch {
		case c == '"':
			p.pos++
			for {
				if p.pos >= len(p.src) {
					return nil, fmt.Errorf("unterminated string")
				}
				if p.src[p.pos] == '"' {
					p.pos++
					break
				}
				r, err := p.char()
				if err != nil {
					return nil, err
				}
				item = append(item, gbnfSym{rule: -1, ranges: []rune{r, r}})
			}
			if len(item) == 0 {
				item = nil
			}
		case c == '[':
			p.pos++
			sym := gbnfSym{rule: -1}
			if p.pos < len(p.src) && p.src[p.pos] == '^' {
				sym.negate = true
				p.pos++
			}
			for {
				if p.pos >= len(p.src) {
					return nil, fmt.Errorf("unterminated character class")
				}
				if p.src[p.pos] == ']' {
					p.pos++
					break
				}
				lo, err := p.char()
				if err != nil {
					return nil, err
				}
				hi := lo
				if p.pos+1 < len(p.src) && p.src[p.pos] == '-' && p.src[p.pos+1] != ']' {
					p.pos++
					if hi, err = p.char(); err != nil {
						return nil, err
					}
				}
				sym.ranges = append(sym.ranges, lo, hi)
			}
			item = []gbnfSym{sym}
		case c == '(':
			p.pos++
			p.skipSpace(true)
			alts, err := p.alternatives(depth + 1)
			if err != nil {
				return nil, err
			}
			p.skipSpace(true)
			if p.pos >= len(p.src) || p.src[p.pos] != ')' {
				return nil, fmt.Errorf("expected ')' at offset %d", p.pos)
			}
			p.pos++
			item = []gbnfSym{p.anonRule(alts)}
		case c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			n := p.name()
			p.used[n] = true
			item = []gbnfSym{{rule: p.ruleID(n)}}
		case c == '\n' && depth == 0:
			return seq, nil
		case c == '|' || c == ')':
			return seq, nil
		default:
			return nil, fmt.Errorf("unexpected %q at offset %d", c, p.pos)
		}
		if p.pos < len(p.src) {
			switch p.src[p.pos] {
			case '*', '+', '?':
				op := p.src[p.pos]
				p.pos++
				item = []gbnfSym{p.repeat(item, op)}
			}
		}
		seq = append(seq, item...)
	}
}

func (p *gbnfParser) char() (rune, error) {
	if p.src[p.pos] == '\\' {
		if p.pos+1 >= len(p.src) {
			return 0, fmt.Errorf("dangling escape")
		}
		e := p.src[p.pos+1]
		p.pos += 2
		switch e {
		case 'n':
			return '\n', nil
		case 't':
			return '\t', nil
		case 'r':
			return '\r', nil
		case '\\', '"', '[', ']', '-', '^':
			return rune(e), nil
		case 'x':
			v, err := strconv.ParseUint(p.src[p.pos:p.pos+2], 16, 32)
			p.pos += 2
			return rune(v), err
		}
		return 0, fmt.Errorf("unknown escape \\%c", e)
	}
	r, n := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += n
	return r, nil
}

func (p *gbnfParser) anonRule(alts [][]gbnfSym) gbnfSym {
	p.anon++
	id := p.ruleID(fmt.Sprintf("\x00anon%d", p.anon))
	p.g.prods[id] = alts
	return gbnfSym{rule: id}
}

// repeat turns item* into R ::= item R | ε (right recursive, as llama.cpp does), item+ into
// item item*, item? into R ::= item | ε.
func (p *gbnfParser) repeat(item []gbnfSym, op byte) gbnfSym {
	switch op {
	case '?':
		return p.anonRule([][]gbnfSym{item, nil})
	case '*':
		p.anon++
		id := p.ruleID(fmt.Sprintf("\x00rep%d", p.anon))
		self := gbnfSym{rule: id}
		p.g.prods[id] = [][]gbnfSym{append(append([]gbnfSym{}, item...), self), nil}
		return self
	default: // '+'
		star := p.repeat(item, '*')
		return p.anonRule([][]gbnfSym{append(append([]gbnfSym{}, item...), star)})
	}
}

func (g *gbnfGrammar) computeNullable() {
	g.nullable = make([]bool, len(g.prods))
	for changed := true; changed; {
		changed = false
		for id, alts := range g.prods {
			if g.nullable[id] {
				continue
			}
			for _, alt := range alts {
				all := true
				for _, s := range alt {
					if s.rule < 0 || !g.nullable[s.rule] {
						all = false
						break
					}
				}
				if all {
					g.nullable[id] = true
					changed = true
					break
				}
			}
		}
	}
}

// checkLeftRecursion fails when a rule can derive itself as its leftmost symbol.
func (g *gbnfGrammar) checkLeftRecursion() error {
	// first[a] = rules that can appear leftmost in a derivation from a.
	left := make([][]int, len(g.prods))
	for id, alts := range g.prods {
		for _, alt := range alts {
			for _, s := range alt {
				if s.rule < 0 {
					break
				}
				left[id] = append(left[id], s.rule)
				if !g.nullable[s.rule] {
					break
				}
			}
		}
	}
	for start := range g.prods {
		seen := make([]bool, len(g.prods))
		stack := append([]int(nil), left[start]...)
		for len(stack) > 0 {
			r := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if r == start {
				return fmt.Errorf("left recursion in rule %s", strings.TrimPrefix(g.names[start], "\x00"))
			}
			if !seen[r] {
				seen[r] = true
				stack = append(stack, left[r]...)
			}
		}
	}
	return nil
}

type earleyItem struct {
	rule, alt, dot, origin int
}

// Accepts reports whether the grammar's root derives s exactly. On failure it returns the
// byte offset of the first character no parse could consume.
func (g *gbnfGrammar) Accepts(s string) (bool, int) {
	input := []rune(s)
	root := g.index["root"]
	sets := make([][]earleyItem, len(input)+1)
	seen := make([]map[earleyItem]bool, len(input)+1)
	for i := range seen {
		seen[i] = map[earleyItem]bool{}
	}
	add := func(i int, it earleyItem) {
		if !seen[i][it] {
			seen[i][it] = true
			sets[i] = append(sets[i], it)
		}
	}
	for a := range g.prods[root] {
		add(0, earleyItem{root, a, 0, 0})
	}
	lastNonEmpty := 0
	for i := 0; i <= len(input); i++ {
		if len(sets[i]) > 0 {
			lastNonEmpty = i
		}
		for k := 0; k < len(sets[i]); k++ {
			it := sets[i][k]
			alt := g.prods[it.rule][it.alt]
			if it.dot == len(alt) { // complete
				for j := 0; j < len(sets[it.origin]); j++ {
					w := sets[it.origin][j]
					wa := g.prods[w.rule][w.alt]
					if w.dot < len(wa) && wa[w.dot].rule == it.rule {
						add(i, earleyItem{w.rule, w.alt, w.dot + 1, w.origin})
					}
				}
				continue
			}
			sym := alt[it.dot]
			if sym.rule >= 0 {
				for a := range g.prods[sym.rule] {
					add(i, earleyItem{sym.rule, a, 0, i})
				}
				if g.nullable[sym.rule] {
					add(i, earleyItem{it.rule, it.alt, it.dot + 1, it.origin})
				}
				continue
			}
			if i < len(input) && sym.matches(input[i]) {
				add(i+1, earleyItem{it.rule, it.alt, it.dot + 1, it.origin})
			}
		}
	}
	for _, it := range sets[len(input)] {
		if it.rule == root && it.origin == 0 && it.dot == len(g.prods[root][it.alt]) {
			return true, len(s)
		}
	}
	return false, len(string(input[:min(lastNonEmpty, len(input))]))
}
