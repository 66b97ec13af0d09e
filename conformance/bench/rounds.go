package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// side is one half of an alternating row; T is its figure (a float64, or a
// latency).
type side[T any] struct {
	name string
	run  func(round int) (T, error)
}

// alternate runs a then z, -rounds times, and returns what each gave;
// show formats a figure for the progress lines.
func alternate[T any](b *bench, what string, show func(T) string, a, z side[T]) (as, zs []T, err error) {
	for round := 1; round <= b.cfg.rounds; round++ {
		for _, s := range []struct {
			side[T]
			into *[]T
		}{{a, &as}, {z, &zs}} {
			b.progress("  %s: round %d/%d, %s", what, round, b.cfg.rounds, s.name)
			v, err := s.run(round)
			if err != nil {
				return nil, nil, err
			}
			b.progress("  %s: round %d/%d, %s: %s", what, round, b.cfg.rounds, s.name, show(v))
			*s.into = append(*s.into, v)
		}
	}
	return as, zs, nil
}

// repeat runs fn -rounds times and returns what it gave.
func repeat[T any](b *bench, what string, fn func(round int) (T, error)) ([]T, error) {
	var vs []T
	for round := 1; round <= b.cfg.rounds; round++ {
		b.progress("  %s: round %d/%d", what, round, b.cfg.rounds)
		v, err := fn(round)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// throughput is a row compared with Redis, higher is better.
func throughput(rowN int, work string, fs, rs []float64, floor, goal float64) result {
	return result{row: rowN, work: work, foldb: median(fs), redis: median(rs), unit: unitRPS, compared: true,
		floor: floor, goal: goal, values: fs, redisValues: rs}
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func seconds(vs []float64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprintf("%.2fs", v)
	}
	return strings.Join(s, ", ")
}

func showRPS(v float64) string     { return count(int64(math.Round(v))) + " req/s" }
func showSeconds(v float64) string { return fmt.Sprintf("%.2fs", v) }

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
