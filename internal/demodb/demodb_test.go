package demodb_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pgask/pgask/internal/demodb"
	"github.com/pgask/pgask/internal/pgcluster"
	"github.com/pgask/pgask/internal/pgtest"
)

func TestShopLoads(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	ctx := context.Background()
	db := pgtest.NewDatabase(t, c)
	if err := c.Exec(ctx, db, demodb.ShopSQL); err != nil {
		t.Fatal(err)
	}
	out, err := c.Psql(ctx, db, "-At", "-c", `select (select count(*) from customers), (select count(*) from orders),
		(select count(*) from order_items) > 1000, (select count(*) from orders o left join customers c on c.id = o.customer_id where c.id is null)`)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "200|1000|t|0" {
		t.Errorf("shop contents = %q, want 200|1000|t|0", got)
	}
}
