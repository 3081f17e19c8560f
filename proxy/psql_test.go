package proxy

import (
	"strings"
	"testing"

	"github.com/pgask/pgask/internal/pgtest"
)

func TestPsqlThroughProxy(t *testing.T) {
	c := pgtest.Shared(t)
	db := pgtest.NewDatabase(t, c)
	if err := c.Exec(ctxT(t), db, "create table orders (id serial primary key, customer text not null, total numeric(10,2)); comment on table orders is 'all orders'"); err != nil {
		t.Fatal(err)
	}
	addr := proxyFor(t, c)
	for _, tc := range []struct {
		name    string
		args    []string
		want    []string
		wantErr bool
	}{
		{name: `\dt`, args: []string{"-c", `\dt`}, want: []string{"orders", "table", "postgres"}},
		{name: `\d table`, args: []string{"-c", `\d orders`}, want: []string{`Table "public.orders"`, "customer", "numeric(10,2)", "orders_pkey"}},
		{name: "two statements", args: []string{"-At", "-c", "select 1; select 2"}, want: []string{"1\n2"}},
		{name: "copy", args: []string{"-c", `\copy (select g from generate_series(1,3) g) to stdout`}, want: []string{"1\n2\n3"}},
		{name: "error exit code", args: []string{"-c", "select * from nope"}, want: []string{`relation "nope" does not exist`}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runPsql(t, addr, db, tc.args...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err=%v wantErr=%v\n%s", err, tc.wantErr, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
