<?php
// Helpers shared by phpredis.php and predis.php. A failed check prints
// "FAIL: <what>" with the values on stderr and exits 1; the Go test
// (conformance/php_test.go) runs the scripts and wants "PASS" at the end.

declare(strict_types=1);

function fail(string $what, $got = null, $want = null): void
{
    fwrite(STDERR, "FAIL: $what\n");
    if (func_num_args() > 1) {
        fwrite(STDERR, "  got:  " . var_export($got, true) . "\n");
        fwrite(STDERR, "  want: " . var_export($want, true) . "\n");
    }
    exit(1);
}

function check(bool $ok, string $what): void
{
    if (!$ok) {
        fail($what);
    }
    echo "ok $what\n";
}

function eq($got, $want, string $what): void
{
    if ($got !== $want) {
        fail($what, $got, $want);
    }
    echo "ok $what\n";
}

// event turns an event reply (a flat field/value array under RESP2, or an
// associative array) into an associative array, checking its fields.
function event($reply, string $what): array
{
    if (!is_array($reply)) {
        fail("$what: an event is an array", $reply, 'array');
    }
    $e = $reply;
    if (array_is_list($reply)) {
        if (count($reply) % 2 !== 0) {
            fail("$what: an event has field/value pairs", $reply);
        }
        $e = [];
        for ($i = 0; $i < count($reply); $i += 2) {
            $e[$reply[$i]] = $reply[$i + 1];
        }
    }
    $fields = array_keys($e);
    $want = ['position', 'stream', 'version', 'type', 'data', 'meta', 'id', 'time'];
    if ($fields !== $want) {
        fail("$what: event fields", $fields, $want);
    }
    foreach (['position', 'version', 'time'] as $f) {
        if (!is_int($e[$f])) {
            fail("$what: $f is an integer", $e[$f], 'int');
        }
    }
    foreach (['data', 'meta'] as $f) {
        $e[$f] = json_decode($e[$f], true, 512, JSON_THROW_ON_ERROR);
    }
    return $e;
}

// port is the server's port: the first argument.
function port(): int
{
    global $argv;
    $p = (int)($argv[1] ?? 0);
    if ($p <= 0) {
        fail('usage: php ' . basename($argv[0]) . ' PORT');
    }
    return $p;
}
