<?php
// foldb with Predis: php predis.php PORT [PREDIS_AUTOLOAD]
// Run by TestPHPClients (conformance/php_test.go).

declare(strict_types=1);
require __DIR__ . '/check.php';
require $argv[2] ?? '/usr/share/php/Predis/autoload.php';

use Predis\Command\RawCommand;
use Predis\Response\ServerException;

$c = new Predis\Client(['host' => '127.0.0.1', 'port' => port(), 'timeout' => 5.0]);
eq((string)$c->ping(), 'PONG', 'PING');

$s = 'account:predis-' . bin2hex(random_bytes(4));

// EXPECT 0 creates the stream; the reply is [version, position].
$res = $c->executeRaw(['EVENT.APPEND', $s, 'EXPECT', '0', 'AccountOpened', '{"name":"Alice"}'], $error);
eq($error, false, 'EVENT.APPEND EXPECT 0 is no error');
check(is_array($res) && count($res) === 2 && $res[0] === 1 && is_int($res[1]) && $res[1] >= 1, 'EVENT.APPEND EXPECT 0 replies [1, position]');
$pos = $res[1];

// The same again: executeRaw returns the error text and sets $error ...
$res = $c->executeRaw(['EVENT.APPEND', $s, 'EXPECT', '0', 'AccountOpened', '{"name":"Alice"}'], $error);
eq($error, true, 'second EXPECT 0 is an error');
eq($res, "WRONGVERSION expected 0 but $s is at version 1", 'WRONGVERSION text (executeRaw)');

// ... and executeCommand throws a ServerException with the code as its type.
try {
    $res = $c->executeCommand(RawCommand::create('EVENT.APPEND', $s, 'EXPECT', '0', 'AccountOpened', '{"name":"Alice"}'));
    fail('second EXPECT 0 throws', $res, 'ServerException');
} catch (ServerException $ex) {
    eq($ex->getMessage(), "WRONGVERSION expected 0 but $s is at version 1", 'WRONGVERSION text (exception)');
    eq($ex->getErrorType(), 'WRONGVERSION', 'WRONGVERSION error type');
}
eq($c->executeRaw(['EVENT.VERSION', $s]), 1, 'EVENT.VERSION after WRONGVERSION');

// EVENT.READ returns the event.
$evs = $c->executeRaw(['EVENT.READ', $s]);
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
$first = $c->executeRaw(['EVENT.APPEND', $s, 'ID', 'deposit-1', 'BalanceIncreased', '{"amount":5}']);
eq($first, [2, $pos + 1], 'EVENT.APPEND ID');
$again = $c->executeRaw(['EVENT.APPEND', $s, 'ID', 'deposit-1', 'BalanceIncreased', '{"amount":5}']);
eq($again, $first, 'the same ID returns the same [version, position]');
eq($c->executeRaw(['EVENT.VERSION', $s]), 2, 'the repeated ID wrote nothing');

// Bad JSON is refused, nothing written.
$res = $c->executeRaw(['EVENT.APPEND', $s, 'BalanceIncreased', '{"amount":'], $error);
eq($error, true, 'bad JSON is an error');
check(str_starts_with($res, 'ERR invalid JSON in event data'), "bad JSON error text: $res");
eq($c->executeRaw(['EVENT.VERSION', $s]), 2, 'bad JSON wrote nothing');

// META and several events in one append; EXPECT with a version.
$res = $c->executeRaw(['EVENT.APPEND', $s, 'EXPECT', '2', 'META', '{"user":"u1"}',
    'BalanceIncreased', '{"amount":1}', 'BalanceDecreased', '{"amount":2}']);
eq($res, [4, $pos + 3], 'EVENT.APPEND EXPECT 2 META with two events');
$evs = $c->executeRaw(['EVENT.READ', $s, 'FROM', '3']);
check(is_array($evs) && count($evs) === 2, 'EVENT.READ FROM 3 returns two events');
foreach ($evs as $i => $raw) {
    $e = event($raw, "event $i of the two");
    eq($e['version'], 3 + $i, "event $i version");
    eq($e['meta'], ['user' => 'u1'], "event $i meta");
}

// Pipelined appends keep their order and each gets its own reply.
$replies = $c->pipeline(function ($pipe) use ($s) {
    for ($i = 0; $i < 10; $i++) {
        $pipe->executeCommand(RawCommand::create('EVENT.APPEND', $s, 'EXPECT', (string)(4 + $i), 'BalanceIncreased', '{"amount":1}'));
    }
});
$want = [];
for ($i = 0; $i < 10; $i++) {
    $want[] = [5 + $i, $pos + 4 + $i];
}
eq($replies, $want, 'ten pipelined appends');

$evs = $c->executeRaw(['EVENT.READ', $s, 'REV', 'COUNT', '1']);
eq(event($evs[0], 'EVENT.READ REV')['version'], 14, 'EVENT.READ REV COUNT 1 is the newest');

echo "PASS\n";
