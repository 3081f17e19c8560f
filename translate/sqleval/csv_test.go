package sqleval

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestCSVReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][]string
	}{
		{"plain", "a,b\n1,2\n", [][]string{{"a", "b"}, {"1", "2"}}},
		{"no final newline, crlf, empty lines", "a,b\r\n\r\n1,2", [][]string{{"a", "b"}, {"1", "2"}}},
		{"quoted with comma, quote and newline", "\"x, \"\"y\"\"\nz\",2\n", [][]string{{"x, \"y\"\nz", "2"}}},
		{"crlf kept inside quotes", "\"a\r\nb\",c\r\n", [][]string{{"a\r\nb", "c"}}},
		{"empty fields", ",,\n", [][]string{{"", "", ""}}},
		{"stray quote ends quoting, as in Python", "q,\"Which stocks changed\". Return the symbol.,\"next\"\n",
			[][]string{{"q", "Which stocks changed. Return the symbol.", "next"}}},
		{"quote inside an unquoted field is literal", "a\"b,c\n", [][]string{{"a\"b", "c"}}},
	}
	for _, tt := range tests {
		c := &csvReader{r: bufio.NewReader(strings.NewReader(tt.in))}
		var got [][]string
		for {
			rec, err := c.read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			got = append(got, rec)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
	c := &csvReader{r: bufio.NewReader(strings.NewReader("a,\"open\n"))}
	if _, err := c.read(); !errors.Is(err, errCSVEOF) {
		t.Errorf("unterminated quote: error %v, want errCSVEOF", err)
	}
}
