// Package conformance drives the built foldb binary with real clients:
// redis-cli, redis-benchmark, go-redis, phpredis, Predis, raw TCP, and
// kill -9. It holds tests only; see harness_test.go for how a test starts
// a server, and DEVELOPERS.md for the tools a run needs.
//
// Settings, all optional:
//
//	FOLDB_REQUIRE_TOOLS=1     a missing tool fails its test instead of skipping it (CI sets it)
//	FOLDB_BIN=path            test this binary instead of building ./cmd/foldb
//	FOLDB_REDIS_CLI=path      redis-cli to use (default: redis-cli on PATH)
//	FOLDB_REDIS_BENCHMARK=path
//	FOLDB_REDIS_SERVER=path   redis-server (Redis 7) that tests compare replies with
//	FOLDB_PHP=path            php to use (default: php on PATH)
//	FOLDB_PREDIS_AUTOLOAD=path Predis's autoload.php (default: /usr/share/php/Predis/autoload.php)
//	FOLDB_PROJECTION_SOAK=n   TestProjectionCrash kills the server n times (default 4), e.g. 200 for a soak
//	FOLDB_PROJECTION_SEED=n   TestProjectionCrash replays the run that logged this seed
//
// Under go test -race the binary is built with -race too, and a server that
// reports a data race or panics fails the test that ran it.
package conformance
