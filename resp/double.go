package resp

import (
	"math"
	"strconv"
)

// appendDouble appends f as Redis 7.2's d2string writes it: "nan", "inf",
// "-inf", "0" or "-0"; an integral value within ±2^62 as an integer; any
// other value through fpconv_dtoa, in plain decimal or in exponent form
// ("1.5e+300", "1e-7") by that function's rules.
//
// fpconv_dtoa takes its digits from Grisu2, which is shortest for nearly
// every double; these come from strconv, which always is, so in the rare
// cases where Grisu2 is not the digits differ but read back as the same
// double.
func appendDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "nan"...)
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0"...)
		}
		return append(dst, '0')
	case f >= -(1<<62) && f <= 1<<62 && f == math.Trunc(f):
		return strconv.AppendInt(dst, int64(f), 10)
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}

	// e is "d.ddde±XX": split it into the digits and the exponent of the
	// first digit, which fpconv calls K+ndigits-1.
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64)
	var digits [17]byte
	nd, i := 0, 0
	for ; e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits[nd] = e[i]
			nd++
		}
	}
	exp10 := 0
	for _, c := range e[i+2:] {
		exp10 = exp10*10 + int(c-'0')
	}
	if e[i+1] == '-' {
		exp10 = -exp10
	}
	d := digits[:nd]
	k := exp10 - (nd - 1)
	exp := max(exp10, -exp10)

	if k >= 0 && exp < nd+7 {
		dst = append(dst, d...)
		for range k {
			dst = append(dst, '0')
		}
		return dst
	}
	if k < 0 && (k > -7 || exp < 4) {
		offset := nd + k
		if offset <= 0 {
			dst = append(dst, '0', '.')
			for range -offset {
				dst = append(dst, '0')
			}
			return append(dst, d...)
		}
		dst = append(dst, d[:offset]...)
		dst = append(dst, '.')
		return append(dst, d[offset:]...)
	}

	dst = append(dst, d[0])
	if nd > 1 {
		dst = append(dst, '.')
		dst = append(dst, d[1:]...)
	}
	dst = append(dst, 'e')
	if exp10 < 0 {
		dst = append(dst, '-')
	} else {
		dst = append(dst, '+')
	}
	return strconv.AppendInt(dst, int64(exp), 10)
}
