package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pgask/pgask/internal/pgtest"
)

// TestSchemaShowsValues: `pgask schema --question --values` shows the most common values of text
// columns as examples and lists the values the question mentions; without --values neither shows.
func TestSchemaShowsValues(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Exec(ctx, db, `CREATE TABLE stores (id int PRIMARY KEY, city text);
INSERT INTO stores SELECT i, (ARRAY['New York', 'Zürich'])[i % 2 + 1] FROM generate_series(1, 50) i;
ANALYZE stores`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		values  bool
		want    []string
		wantNot []string
	}{
		{name: "values", values: true, want: []string{"city text --example: ", "-- values in the database that match the question:\n-- stores.city = 'Zürich'\n"}},
		{name: "no values", wantNot: []string{"example:", "match the question", "Zürich"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			f := schemaFlags{upstream: c.URL("postgres", db), question: "stores in zurich", budget: 2000, values: tt.values}
			if err := runSchema(ctx, &out, &errOut, f); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(out.String(), w) {
					t.Errorf("output holds %q:\n%s", w, out.String())
				}
			}
		})
	}
}
