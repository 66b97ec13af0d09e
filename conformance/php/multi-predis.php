<?php
// MULTI/EXEC on foldb with Predis: php multi-predis.php PORT [PREDIS_AUTOLOAD]
// Run by TestPHPTransactions (conformance/php_test.go) against a foldb with
// the bank's schema. Checks the shapes Predis 1.1 gives EXEC's replies, then
// the bank's transfers over PredisConnection (transfers.php).

declare(strict_types=1);
require __DIR__ . '/transfers.php';
require $argv[2] ?? '/usr/share/php/Predis/autoload.php';

use Foldb\Endpoint;
use Foldb\PredisConnection;
use Predis\Command\RawCommand;
use Predis\Response\Error;
use Predis\Response\ServerException;
use Predis\Transaction\AbortedMultiExecException;
use Predis\Transaction\MultiExec;

$c = new Predis\Client(['host' => '127.0.0.1', 'port' => port(), 'timeout' => 5.0]);
$a = 'account:predis-m-' . bin2hex(random_bytes(4));
$b = "{$a}-b";
$c->executeRaw(['EVENT.APPEND', $a, 'EXPECT', 'NEW', 'AccountOpened', '{"uuid":"a","name":"a"}', 'BalanceIncreased', '{"amount":100}']);
$c->executeRaw(['EVENT.APPEND', $b, 'EXPECT', 'NEW', 'AccountOpened', '{"uuid":"b","name":"b"}']);
$versions = static fn (): array => [$c->executeRaw(['EVENT.VERSION', $a]), $c->executeRaw(['EVENT.VERSION', $b])];
$leg = static fn (string $stream, string $type, int $amount): array => ['EVENT.APPEND', $stream, $type, json_encode(['amount' => $amount])];
// Client::transaction() of the legs, with its exceptions option; a thrown
// exception becomes its class and message, an error entry its text.
$tx = static function (bool $exceptions, array ...$commands) use ($c): array {
    try {
        $replies = $c->transaction(['exceptions' => $exceptions], static function (MultiExec $tx) use ($commands): void {
            foreach ($commands as $args) {
                $tx->executeCommand(RawCommand::create(...$args));
            }
        });
    } catch (Exception $e) {
        return ['thrown' => get_class($e), 'message' => $e->getMessage()];
    }

    return ['replies' => array_map(static fn ($r) => $r instanceof Error ? 'Error: ' . $r->getMessage() : $r, $replies)];
};
$abort = static fn (int $n, string $stream, string $error): string => "EXECABORT Transaction discarded because command {$n} (EVENT.APPEND {$stream}) was refused: {$error}";

// Written: an array of the appends' [version, position], in one commit.
$ok = $tx(true, $leg($a, 'BalanceDecreased', 10), $leg($b, 'BalanceIncreased', 10));
check(isset($ok['replies'][1][1]) && $ok['replies'][0][0] === 3 && $ok['replies'][1][0] === 2 && $ok['replies'][1][1] === $ok['replies'][0][1] + 1,
    'EXEC replies [[3, p], [2, p + 1]]: ' . json_encode($ok));

// Refused, with exceptions (the default): a ServerException with the FIRST
// error entry, whichever it is.
$before = $versions();
eq($tx(true, $leg($a, 'BalanceDecreased', 1000), $leg($b, 'BalanceIncreased', 1000)),
    ['thrown' => ServerException::class, 'message' => 'REJECTED insufficient funds'], 'exceptions on, refused first append: its REJECTED');
eq($tx(true, $leg($b, 'BalanceIncreased', 1000), $leg($a, 'BalanceDecreased', 1000)),
    ['thrown' => ServerException::class, 'message' => $abort(2, $a, 'REJECTED insufficient funds')], 'exceptions on, refused last append: the EXECABORT before it, which quotes it');

// Without exceptions: every entry, an error as a Predis\Response\Error.
eq($tx(false, $leg($b, 'BalanceIncreased', 1000), $leg($a, 'BalanceDecreased', 1000)),
    ['replies' => ['Error: ' . $abort(2, $a, 'REJECTED insufficient funds'), 'Error: REJECTED insufficient funds']], 'exceptions off: every entry');
eq($tx(false, ['EVENT.APPEND', $a, 'EXPECT', '1', 'BalanceDecreased', '{"amount":1}'], $leg($b, 'BalanceIncreased', 1)),
    ['replies' => ["Error: WRONGVERSION expected 1 but {$a} is at version 3", 'Error: ' . $abort(1, $a, "WRONGVERSION expected 1 but {$a} is at version 3")]], 'exceptions off, stale EXPECT');
eq($versions(), $before, 'refused transactions wrote nothing');

// A read in the transaction runs after the appends; nil is null.
$read = $tx(true, $leg($b, 'BalanceIncreased', 1), ['ENTITY.GET', 'account', 'nobody'], ['EVENT.VERSION', $b]);
eq([$read['replies'][1], $read['replies'][2]], [null, 3], 'reads in EXEC: nil is null, EVENT.VERSION sees the append before it');

// Refused while queuing: AbortedMultiExecException with the server's text,
// after Predis sent DISCARD.
$before = $versions();
$queuing = $tx(false, $leg($b, 'BalanceIncreased', 1), ['EVENT.APPEND', $b, 'BalanceIncreased', '{"amount":']);
check($queuing['thrown'] === AbortedMultiExecException::class && str_starts_with($queuing['message'], 'ERR invalid JSON in event data'),
    'refused while queuing: AbortedMultiExecException with the text: ' . json_encode($queuing));
eq($versions(), $before, 'refused while queuing: nothing written, the connection in step');

// executeRaw works too: QUEUED as text, error entries as Error objects, and
// EXEC's own error as its text with $isError.
eq([$c->executeRaw(['MULTI']), $c->executeRaw($leg($a, 'BalanceDecreased', 1000)), $c->executeRaw($leg($b, 'BalanceIncreased', 1))], ['OK', 'QUEUED', 'QUEUED'], 'executeRaw: MULTI and QUEUED');
$raw = $c->executeRaw(['EXEC'], $isError);
eq([$isError, array_map(static fn ($r) => $r instanceof Error ? 'Error: ' . $r->getMessage() : $r, $raw)],
    [false, ['Error: REJECTED insufficient funds', 'Error: ' . $abort(1, $a, 'REJECTED insufficient funds')]], 'executeRaw EXEC: the entries, errors as Error objects');
$c->executeRaw(['MULTI']);
$c->executeRaw(['NO.SUCH.COMMAND'], $isError);
eq([$c->executeRaw(['EXEC'], $isError), $isError], ['EXECABORT Transaction discarded because of previous errors.', true], 'executeRaw EXEC after an error while queuing');
eq($versions(), $before, 'executeRaw: nothing written');

// WATCH: a watched stream that moved makes EXEC reply nil, null to Predis.
$c->executeRaw(['WATCH', $b]);
(new Predis\Client(['host' => '127.0.0.1', 'port' => port()]))->executeRaw($leg($b, 'BalanceIncreased', 1));
$c->executeRaw(['MULTI']);
$c->executeRaw($leg($b, 'BalanceIncreased', 1));
eq($c->executeRaw(['EXEC']), null, 'EXEC after a watched stream moved: null');

checkTransfers(new PredisConnection(new Endpoint(port: port())), 'predis');
echo "PASS\n";
