package asksplit

// Placeholder returns the first parameter placeholder ($1, $2 …) in the prose of an unquoted
// question, or "" when it holds none. A `$` followed by digits (not by a letter: "$1st" is an
// ordinal; not by a decimal part: "$1.50" is an amount) is what a driver writes in place of a `?` it took for a parameter marker (pgjdbc, psycopg 3,
// node-postgres all send PostgreSQL's $n to the server; pgjdbc turns "paid?" into "paid$1"), so an extended-protocol ASK whose
// question holds one was most likely rewritten by the driver on its way: the caller should
// answer with a hint naming a quoted form rather than translate the changed question.
// Quoted questions are never rewritten by drivers (they lex string literals and dollar
// quotes), so only unquoted ones are to be checked.
func Placeholder(question string) string {
	for i := 0; i < len(question); i++ {
		if question[i] != '$' {
			continue
		}
		j := i + 1
		for j < len(question) && question[j] >= '0' && question[j] <= '9' {
			j++
		}
		if j == i+1 || j < len(question) && isIdentCont(question[j]) {
			continue
		}
		// An amount ("over $1.50", "$1,000") is no placeholder.
		if j+1 < len(question) && (question[j] == '.' || question[j] == ',') && question[j+1] >= '0' && question[j+1] <= '9' {
			continue
		}
		return question[i:j]
	}
	return ""
}
