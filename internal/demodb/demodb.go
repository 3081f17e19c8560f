// Package demodb holds the small sample database that `pgask demo` loads: a web shop with
// comments, foreign keys and an enum, and deterministic data.
package demodb

import _ "embed"

// ShopSQL creates and fills the shop schema in the current database.
//
//go:embed shop.sql
var ShopSQL string

// Questions are example questions the demo suggests.
var Questions = []string{
	"how many customers are there",
	"which 5 products sold the most units",
	"what's the total revenue per country in the last 90 days",
	"how many orders were cancelled last month",
}
