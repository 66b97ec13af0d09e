package pubsub

// Match reports whether s matches the Redis glob pattern p, as Redis's
// stringmatchlen does for PSUBSCRIBE, PUBSUB CHANNELS and KEYS:
//
//   - any run of bytes, also none
//     ?       any one byte
//     [abc]   one of the bytes listed; [^abc] one that is not; [a-z] a range
//     \x      the byte x itself
//
// Matching is bytewise and case-sensitive. A '[' that is never closed
// matches as if the class ended at the pattern's end, as in Redis.
func Match(p, s string) bool {
	// Iterative with one back-track point for the last '*': linear for
	// patterns with one star, and never worse than len(p)*len(s).
	var starP, starS = -1, 0
	i, j := 0, 0
	for j < len(s) {
		if i < len(p) {
			switch p[i] {
			case '*':
				for i < len(p) && p[i] == '*' {
					i++
				}
				if i == len(p) {
					return true
				}
				starP, starS = i, j
				continue
			case '?':
				i++
				j++
				continue
			case '[':
				if n, ok := matchClass(p[i:], s[j]); n > 0 {
					if ok {
						i += n
						j++
						continue
					}
				}
			case '\\':
				if i+1 < len(p) {
					if p[i+1] == s[j] {
						i += 2
						j++
						continue
					}
				} else if s[j] == '\\' {
					i++
					j++
					continue
				}
			default:
				if p[i] == s[j] {
					i++
					j++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		i, j = starP, starS
	}
	for i < len(p) && p[i] == '*' {
		i++
	}
	return i == len(p)
}

// matchClass matches c against the class that opens p ("[...") and returns
// how many bytes of p the class takes.
func matchClass(p string, c byte) (int, bool) {
	i := 1
	not := i < len(p) && p[i] == '^'
	if not {
		i++
	}
	match := false
	for i < len(p) && p[i] != ']' {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			i++
			if p[i] == c {
				match = true
			}
		case i+2 < len(p) && p[i+1] == '-' && p[i+2] != ']':
			lo, hi := p[i], p[i+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			if lo <= c && c <= hi {
				match = true
			}
			i += 2
		case p[i] == c:
			match = true
		}
		i++
	}
	if i < len(p) {
		i++ // the closing ']'
	}
	return i, match != not
}
