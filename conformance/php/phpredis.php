<?php
// foldb with phpredis: php phpredis.php PORT
// Run by TestPHPClients (conformance/php_test.go).

declare(strict_types=1);
require __DIR__ . '/check.php';

$r = new Redis();
$r->connect('127.0.0.1', port(), 5.0);
eq($r->ping(), true, 'PING');

$s = 'account:phpredis-' . bin2hex(random_bytes(4));

// EXPECT 0 creates the stream; the reply is [version, position].
$res = $r->rawCommand('EVENT.APPEND', $s, 'EXPECT', '0', 'AccountOpened', '{"name":"Alice"}');
check(is_array($res) && count($res) === 2 && $res[0] === 1 && is_int($res[1]) && $res[1] >= 1, 'EVENT.APPEND EXPECT 0 replies [1, position]');
$pos = $res[1];

// The same again: WRONGVERSION, nothing written. phpredis throws a
// RedisException for error codes other than ERR (and a few Redis codes);
// for ERR it returns false and keeps the text in getLastError.
try {
    $res = $r->rawCommand('EVENT.APPEND', $s, 'EXPECT', '0', 'AccountOpened', '{"name":"Alice"}');
    fail('second EXPECT 0 throws', $res, 'RedisException');
} catch (RedisException $ex) {
    eq($ex->getMessage(), "WRONGVERSION expected 0 but $s is at version 1", 'WRONGVERSION text');
}
$r->clearLastError();
eq($r->rawCommand('EVENT.VERSION', $s), 1, 'EVENT.VERSION after WRONGVERSION');

// EVENT.READ returns the event.
$evs = $r->rawCommand('EVENT.READ', $s);
check(is_array($evs) && count($evs) === 1, 'EVENT.READ returns one event');
$e = event($evs[0], 'EVENT.READ');
eq($e['position'], $pos, 'event position');
eq($e['stream'], $s, 'event stream');
eq($e['version'], 1, 'event version');
eq($e['type'], 'AccountOpened', 'event type');
eq($e['data'], ['name' => 'Alice'], 'event data');
eq($e['meta'], [], 'event meta');
eq($e['id'], '', 'event id');
check(abs($e['time'] - (int)(microtime(true) * 1000)) < 60000, 'event time is unix milliseconds');

// ID makes an append idempotent: the same ID returns the first result.
$first = $r->rawCommand('EVENT.APPEND', $s, 'ID', 'deposit-1', 'BalanceIncreased', '{"amount":5}');
eq($first, [2, $pos + 1], 'EVENT.APPEND ID');
$again = $r->rawCommand('EVENT.APPEND', $s, 'ID', 'deposit-1', 'BalanceIncreased', '{"amount":5}');
eq($again, $first, 'the same ID returns the same [version, position]');
eq($r->rawCommand('EVENT.VERSION', $s), 2, 'the repeated ID wrote nothing');

// Bad JSON is refused, nothing written.
$res = $r->rawCommand('EVENT.APPEND', $s, 'BalanceIncreased', '{"amount":');
eq($res, false, 'bad JSON fails');
check(str_starts_with((string)$r->getLastError(), 'ERR invalid JSON in event data'), 'bad JSON error text: ' . $r->getLastError());
$r->clearLastError();
eq($r->rawCommand('EVENT.VERSION', $s), 2, 'bad JSON wrote nothing');

// META and several events in one append; EXPECT with a version.
$res = $r->rawCommand('EVENT.APPEND', $s, 'EXPECT', '2', 'META', '{"user":"u1"}',
    'BalanceIncreased', '{"amount":1}', 'BalanceDecreased', '{"amount":2}');
eq($res, [4, $pos + 3], 'EVENT.APPEND EXPECT 2 META with two events');
$evs = $r->rawCommand('EVENT.READ', $s, 'FROM', '3');
check(is_array($evs) && count($evs) === 2, 'EVENT.READ FROM 3 returns two events');
foreach ($evs as $i => $raw) {
    $e = event($raw, "event $i of the two");
    eq($e['version'], 3 + $i, "event $i version");
    eq($e['meta'], ['user' => 'u1'], "event $i meta");
}

// Pipelined appends keep their order and each gets its own reply.
$p = $r->multi(Redis::PIPELINE);
for ($i = 0; $i < 10; $i++) {
    $p->rawCommand('EVENT.APPEND', $s, 'EXPECT', (string)(4 + $i), 'BalanceIncreased', '{"amount":1}');
}
$replies = $p->exec();
$want = [];
for ($i = 0; $i < 10; $i++) {
    $want[] = [5 + $i, $pos + 4 + $i];
}
eq($replies, $want, 'ten pipelined appends');

$evs = $r->rawCommand('EVENT.READ', $s, 'REV', 'COUNT', '1');
eq(event($evs[0], 'EVENT.READ REV')['version'], 14, 'EVENT.READ REV COUNT 1 is the newest');

echo "PASS\n";
