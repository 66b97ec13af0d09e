<?php
// The bank's transfers over a FoldbConnection, the same checks for each PHP
// client: required by multi-phpredis.php and multi-predis.php after their
// raw MULTI/EXEC checks, with the connection of their client.

declare(strict_types=1);
require_once __DIR__ . '/check.php';
require_once dirname(__DIR__, 2) . '/examples/php/bank/src/autoload.php';

use Bank\Http\BalanceController;
use Bank\InsufficientFunds;
use Bank\Store;
use Foldb\Append;
use Foldb\Client;
use Foldb\Event;
use Foldb\Expect;
use Foldb\FoldbConnection;
use Foldb\FoldbError;
use Foldb\Rejected;
use Foldb\Versioned;
use Foldb\WrongVersion;

function checkTransfers(FoldbConnection $connection, string $client): void
{
    $c = new Client($connection);
    Store::use($c);
    $bank = new BalanceController();
    $a = "{$client}-t-" . bin2hex(random_bytes(4));
    $b = "{$a}-b";
    foreach ([$a => 100, $b => 0] as $id => $amount) {
        $events = [new Event('AccountOpened', ['uuid' => $id, 'name' => $id])];
        if ($amount > 0) {
            $events[] = new Event('BalanceIncreased', ['amount' => $amount]);
        }
        $c->append("account:{$id}", Expect::new(), null, $events);
    }
    // Both accounts and their streams, and the totals (no one else writes meanwhile).
    $state = static fn (): array => array_map(static fn ($v) => $v instanceof Versioned ? [$v->data, $v->version] : $v, [
        $c->getWithVersion('account', $a), $c->getWithVersion('account', $b),
        $c->version("account:{$a}"), $c->version("account:{$b}"), $c->get('bank', 'totals'),
    ]);

    // A transfer: both legs, adjacent, paired by META transfer and their IDs.
    $t = $bank->transfer($a, $b, 30, "{$a}-first");
    eq([$t->from->balance(), $t->to->balance(), $t->from->version(), $t->to->version()], [70, 30, 3, 2], "$client: transfer 30: balances and versions");
    $out = $c->read("account:{$a}")[2];
    $in = $c->read("account:{$b}")[1];
    eq([$out->type, $out->data, $out->meta, $out->id], ['BalanceDecreased', ['amount' => 30], ['transfer' => "{$a}-first"], "{$a}-first-out"], "$client: the withdrawal leg");
    eq([$in->type, $in->data, $in->meta, $in->id], ['BalanceIncreased', ['amount' => 30], ['transfer' => "{$a}-first"], "{$a}-first-in"], "$client: the deposit leg");
    eq($in->position, $out->position + 1, "$client: the legs are adjacent in the log");

    // The same transfer id again: its first result, nothing written.
    $before = $state();
    $again = $bank->transfer($a, $b, 30, "{$a}-first");
    eq([$again->from->balance(), $again->from->version(), $again->from->appended()?->position], [70, 3, $out->position], "$client: a transfer id given twice answers the first result");
    eq($state(), $before, "$client: a transfer id given twice writes nothing");

    // More than the balance: InsufficientFunds from the withdrawal, and neither leg.
    try {
        $bank->transfer($a, $b, 71);
        fail("$client: a transfer of 71 out of 70 is refused");
    } catch (InsufficientFunds $e) {
        $rejected = $e->getPrevious();
        check($rejected instanceof Rejected && $rejected->getMessage() === 'REJECTED insufficient funds' && $rejected->command() === 1,
            "$client: an overdraft by transfer is InsufficientFunds, REJECTED at append 1: " . $e->getMessage());
    }
    eq($state(), $before, "$client: a refused transfer writes neither leg");

    // Client::appendAll: the refused append's own error and its place.
    $deposit = new Append("account:{$b}", Expect::any(), null, [new Event('BalanceIncreased', ['amount' => 5])]);
    $overdraft = new Append("account:{$a}", Expect::any(), null, [new Event('BalanceDecreased', ['amount' => 1000])]);
    foreach ([[$deposit, $overdraft], [$overdraft, $deposit]] as $appends) {
        $place = array_search($overdraft, $appends, true) + 1;
        try {
            $c->appendAll($appends);
            fail("$client: appendAll with an overdraft at $place is refused");
        } catch (Rejected $e) {
            eq([$e->getMessage(), $e->command()], ['REJECTED insufficient funds', $place], "$client: appendAll, overdraft at $place of 2: the REJECTED and its place");
        }
        eq($state(), $before, "$client: appendAll, overdraft at $place of 2: nothing written");
    }
    $stale = new Append("account:{$b}", Expect::version(1), null, [new Event('BalanceIncreased', ['amount' => 5])]);
    try {
        $c->appendAll([$deposit, $stale]);
        fail("$client: appendAll with a stale EXPECT is refused");
    } catch (WrongVersion $e) {
        // The first append moved account:b to 3 within the transaction.
        eq([$e->actualVersion(), $e->command()], [3, 2], "$client: appendAll, stale EXPECT at 2: WRONGVERSION as of the transaction's own first append, and its place");
    }
    eq($state(), $before, "$client: appendAll with a stale EXPECT writes nothing");

    // Refused while queuing: the queuing error, the connection still in step.
    try {
        $connection->transaction([$deposit->command(), ['EVENT.APPEND', "account:{$b}", 'BalanceIncreased', '{"amount":']]);
        fail("$client: an append of bad JSON is refused while queuing");
    } catch (FoldbError $e) {
        check(str_starts_with($e->getMessage(), 'ERR invalid JSON in event data') && $e->command() === null,
            "$client: refused while queuing: the append's own error, no place: " . $e->getMessage());
    }
    eq($state(), $before, "$client: refused while queuing: nothing written");
    eq($c->appendAll([$deposit])[0]->version, 3, "$client: the connection is in step after a refused transaction");
}
