<?php
// MULTI/EXEC on foldb with phpredis: php multi-phpredis.php PORT
// Run by TestPHPTransactions (conformance/php_test.go) against a foldb with
// the bank's schema. Checks the shapes phpredis 5.3 gives EXEC's replies,
// then the bank's transfers over PhpRedisConnection (transfers.php).

declare(strict_types=1);
require __DIR__ . '/transfers.php';

use Foldb\Endpoint;
use Foldb\PhpRedisConnection;

$r = new Redis();
$r->connect('127.0.0.1', port(), 5.0);
$a = 'account:phpredis-m-' . bin2hex(random_bytes(4));
$b = "{$a}-b";
$r->rawCommand('EVENT.APPEND', $a, 'EXPECT', 'NEW', 'AccountOpened', '{"uuid":"a","name":"a"}', 'BalanceIncreased', '{"amount":100}');
$r->rawCommand('EVENT.APPEND', $b, 'EXPECT', 'NEW', 'AccountOpened', '{"uuid":"b","name":"b"}');
$versions = static fn (): array => [$r->rawCommand('EVENT.VERSION', $a), $r->rawCommand('EVENT.VERSION', $b)];
$leg = static fn (string $stream, string $type, int $amount): array => ['EVENT.APPEND', $stream, $type, json_encode(['amount' => $amount])];
// exec() of the legs; a RedisException becomes its message, with getLastError() beside it.
$exec = static function (array ...$commands) use ($r): array {
    $r->clearLastError();
    $m = $r->multi();
    foreach ($commands as $args) {
        $m = $m->rawCommand(...$args);
    }
    try {
        return ['replies' => $m->exec()];
    } catch (RedisException $e) {
        return ['thrown' => $e->getMessage(), 'lastError' => $r->getLastError()];
    }
};

// Written: an array of the appends' [version, position], in one commit.
$ok = $exec($leg($a, 'BalanceDecreased', 10), $leg($b, 'BalanceIncreased', 10));
check(isset($ok['replies'][1][1]) && $ok['replies'][0][0] === 3 && $ok['replies'][1][0] === 2 && $ok['replies'][1][1] === $ok['replies'][0][1] + 1,
    'EXEC replies [[3, p], [2, p + 1]]: ' . json_encode($ok));

// Refused: phpredis reads every entry of EXEC's reply, then throws one
// RedisException with the text of the last error entry, and no array.
$before = $versions();
$abort = static fn (int $n, string $stream, string $error): string => "EXECABORT Transaction discarded because command {$n} (EVENT.APPEND {$stream}) was refused: {$error}";
$refusedFirst = $exec($leg($a, 'BalanceDecreased', 1000), $leg($b, 'BalanceIncreased', 1000));
$text = $abort(1, $a, 'REJECTED insufficient funds');
eq($refusedFirst, ['thrown' => $text, 'lastError' => $text], 'refused first append: RedisException with the second entry, the EXECABORT that quotes the REJECTED');
$refusedLast = $exec($leg($b, 'BalanceIncreased', 1000), $leg($a, 'BalanceDecreased', 1000));
eq($refusedLast, ['thrown' => 'REJECTED insufficient funds', 'lastError' => 'REJECTED insufficient funds'], 'refused last append: RedisException with its own REJECTED');
$stale = $exec(['EVENT.APPEND', $a, 'EXPECT', '1', 'BalanceDecreased', '{"amount":1}'], $leg($b, 'BalanceIncreased', 1));
eq($stale['thrown'], $abort(1, $a, "WRONGVERSION expected 1 but {$a} is at version 3"), 'stale EXPECT: the EXECABORT quotes the WRONGVERSION');
eq($versions(), $before, 'refused transactions wrote nothing, and the connection is in step');

// A read in the transaction runs after the appends; nil is false, as outside MULTI.
$read = $exec($leg($b, 'BalanceIncreased', 1), ['ENTITY.GET', 'account', 'nobody'], ['EVENT.VERSION', $b]);
eq([$read['replies'][1], $read['replies'][2]], [false, 3], 'reads in EXEC: nil is false, EVENT.VERSION sees the append before it');

// Refused while queuing with ERR: rawCommand() returns false, the text is in
// getLastError() with a NUL byte at its end, and phpredis stays in MULTI.
// DISCARD leaves it; an exec() instead misreads EXEC's -EXECABORT as a broken
// connection.
$before = $versions();
$r->clearLastError();
$r->multi();
$queued = $r->rawCommand(...$leg($b, 'BalanceIncreased', 1));
$bad = $r->rawCommand('EVENT.APPEND', $b, 'BalanceIncreased', '{"amount":');
eq([$queued === $r, $bad], [true, false], 'in MULTI rawCommand() returns the Redis object, or false when refused');
check(str_starts_with((string) $r->getLastError(), 'ERR invalid JSON in event data') && str_ends_with((string) $r->getLastError(), "\0"),
    'refused while queuing: getLastError() has the text, and a NUL byte after it');
eq($r->discard(), true, 'DISCARD after a refused queuing');
eq($versions(), $before, 'DISCARD: nothing written');
$r->multi();
$r->rawCommand('NO.SUCH.COMMAND');
try {
    $broken = $r->exec();
    eq($broken, [], 'exec() after an unknown command while queuing: an empty array, not the EXECABORT');
} catch (RedisException $e) {
    fail('exec() after an unknown command while queuing', $e->getMessage(), '[]');
}
eq($versions(), $before, 'EXEC after an error while queuing: nothing written');

// WATCH: a watched stream that moved makes EXEC reply nil, false to phpredis.
$r->rawCommand('WATCH', $b);
$other = new Redis();
$other->connect('127.0.0.1', port(), 5.0);
$other->rawCommand(...$leg($b, 'BalanceIncreased', 1));
eq($exec($leg($b, 'BalanceIncreased', 1)), ['replies' => false], 'EXEC after a watched stream moved: false');

// XACK in the transaction: the outcome and the acknowledgement commit
// together; a refused append leaves the entry pending.
$group = 'multi-' . getmypid();
eq($r->xGroup('CREATE', '$ce-account', $group, '0'), true, 'XGROUP CREATE');
$got = $r->xReadGroup($group, 'w', ['$ce-account' => '>'], 2);
$ids = array_keys($got['$ce-account'] ?? []);
eq(count($ids), 2, 'XREADGROUP delivers two entries');
$r->multi();
$r->rawCommand(...$leg($b, 'BalanceIncreased', 1));
$r->xAck('$ce-account', $group, [$ids[0]]);
$acked = $r->exec();
check(is_array($acked) && count($acked) === 2 && is_array($acked[0]) && $acked[1] === 1, 'EXEC of an append and an XACK: [[version, position], 1]: ' . json_encode($acked));
$r->multi();
$r->rawCommand(...$leg($a, 'BalanceDecreased', 100000));
$r->xAck('$ce-account', $group, [$ids[1]]);
try {
    $r->exec();
    fail('a refused append with an XACK', 'no exception', 'RedisException');
} catch (RedisException $e) {
    check(str_starts_with($e->getMessage(), 'EXECABORT Transaction discarded because command 1'), 'a refused append: the XACK gets the EXECABORT: ' . $e->getMessage());
}
$pending = $r->xPending('$ce-account', $group);
eq([$pending[0] ?? null, $pending[1] ?? null], [1, $ids[1]], 'the entry of the refused transaction is still pending, the other acknowledged');

checkTransfers(new PhpRedisConnection(new Endpoint(port: port())), 'phpredis');
echo "PASS\n";
