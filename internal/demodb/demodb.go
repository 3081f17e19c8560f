// Package demodb holds the small sample database that `pgask demo` loads: a web shop with
// comments, foreign keys and an enum, and deterministic data.
package demodb

import _ "embed"

// ShopSQL creates and fills the shop schema in the current database.
//
//go:embed shop.sql
var ShopSQL string

// EvalQuestions are ten questions on the shop with gold SQL, in sql-eval's CSV format (db_name
// "shop"): the real-model test asks them, and bench/accuracy/run.sh adds them to its question
// files. They are simple on purpose: the small real models the project can run here answer a
// few of them, and almost none of sql-eval's.
//
//go:embed questions.csv
var EvalQuestions string

// Questions are example questions the demo suggests.
var Questions = []string{
	"how many customers are there",
	"which 5 products sold the most units",
	"what's the total revenue per country in the last 90 days",
	"how many orders were cancelled last month",
}
