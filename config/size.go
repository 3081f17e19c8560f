package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a size in bytes. In a file, the environment or a flag it is written as a number
// with an optional unit: 1048576, 512kB, 64MB, 1GB (units are powers of 1024, as in
// postgresql.conf).
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"kB", 1 << 10}, {"B", 1}}

// ParseByteSize parses "64MB", "512kB", "1GB" or a plain number of bytes. Units are
// case-insensitive and may be separated from the number by spaces.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if len(t) > len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit (kB, MB, GB, TB)", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(n * mult), nil
}

// String writes the size with the largest unit that divides it.
func (b ByteSize) String() string {
	for _, u := range sizeUnits[:4] {
		if b != 0 && int64(b)%u.mult == 0 {
			return strconv.FormatInt(int64(b)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// UnmarshalText lets the configuration decoder read sizes from strings.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// sizeFlag is the pflag.Value of a ByteSize flag.
type sizeFlag struct{ v *ByteSize }

func (f sizeFlag) String() string {
	if f.v == nil {
		return "0B"
	}
	return f.v.String()
}
func (f sizeFlag) Set(s string) error { return f.v.UnmarshalText([]byte(s)) }
func (f sizeFlag) Type() string       { return "size" }
