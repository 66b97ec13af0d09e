<?php

declare(strict_types=1);

// php overdraft.php
//
// What must write nothing, checked against a fresh account:
//   1. an overdraft through the aggregate root -> InsufficientFunds,
//   2. an overdraft sent raw, without EXPECT -> REJECTED,
//   3. a stale EXPECT -> WRONGVERSION,
//   4. the same ID sent again -> the first reply, no second event,
//   5. a transfer of more than the balance to a second fresh account ->
//      InsufficientFunds, and neither account changes,
//   6. a transaction (MULTI/EXEC) of a deposit on the second account and an
//      overdraft on the first -> the overdraft's REJECTED, the deposit not
//      written either,
//   7. a closed account -> no more increases.
// After each: the accounts' versions and balances, their streams' versions and
// the bank's totals are what they were. Prints each step; exits 1 on a failure.

require __DIR__ . '/bootstrap.php';

use Bank\Account;
use Bank\AccountAggregateRoot;
use Bank\AccountNotFound;
use Bank\Bank;
use Bank\Http\AccountsController;
use Bank\Http\BalanceController;
use Bank\InsufficientFunds;
use Bank\Store;
use Foldb\Append;
use Foldb\Appended;
use Foldb\Event;
use Foldb\Expect;
use Foldb\FoldbError;
use Foldb\Rejected;
use Foldb\WrongVersion;

$client = Store::client();
$accounts = new AccountsController();
$balance = new BalanceController();
$id = 'overdraft-' . bin2hex(random_bytes(4));
$stream = "account:{$id}";
$other = "{$id}-to";
$failures = 0;

$state = static fn (): array => [
    'entity' => $client->getWithVersion(Account::TYPE, $id),
    'stream' => $client->version($stream),
    'other' => $client->getWithVersion(Account::TYPE, $other),
    'otherStream' => $client->version("account:{$other}"),
    'totals' => Bank::totals(),
];
$same = static function (string $step, array $before, callable $attempt, string $expected) use ($state, &$failures): void {
    try {
        $result = $attempt();
        $outcome = 'accepted' . (is_string($result) ? ": {$result}" : '');
    } catch (Throwable $e) {
        $outcome = get_class($e) . ': ' . $e->getMessage();
    }
    $after = $state();
    $ok = str_starts_with($outcome, $expected) && $after == $before;
    $failures += $ok ? 0 : 1;
    printf("%s %s\n    -> %s\n    version %d -> %d, balance %s -> %s, stream %d -> %d, withdrawals %d -> %d\n",
        $ok ? 'ok  ' : 'FAIL', $step, $outcome,
        $before['entity']->version, $after['entity']->version,
        json_encode($before['entity']->data['balance'] ?? null), json_encode($after['entity']->data['balance'] ?? null),
        $before['stream'], $after['stream'], $before['totals']->withdrawals, $after['totals']->withdrawals);
    if ($before['otherStream'] > 0) {
        printf("    the other account: version %d -> %d, balance %s -> %s, deposits %d -> %d\n",
            $before['other']->version, $after['other']->version,
            json_encode($before['other']->data['balance'] ?? null), json_encode($after['other']->data['balance'] ?? null),
            $before['totals']->deposits, $after['totals']->deposits);
    }
};

$accounts->open($id, 'Overdraft test', 100);
$before = $state();
printf("opened %s with 100: version %d, balance %d\n", $id, $before['entity']->version, $before['entity']->data['balance']);

$same('1. decrease 150 through the aggregate root', $before,
    static fn () => $balance->decrease($id, 150), InsufficientFunds::class);

$same('2. EVENT.APPEND ' . $stream . ' BalanceDecreased {"amount":101} (no EXPECT)', $before,
    static fn () => $client->append($stream, Expect::any(), null, [new Event('BalanceDecreased', ['amount' => 101])]),
    Rejected::class . ': REJECTED insufficient funds');

$same('3. EVENT.APPEND ... EXPECT ' . ($before['stream'] - 1) . ' BalanceIncreased {"amount":5}', $before,
    static fn () => $client->append($stream, Expect::version($before['stream'] - 1), null, [new Event('BalanceIncreased', ['amount' => 5])]),
    WrongVersion::class . ': WRONGVERSION');

// At the stream's version now, not $before's: should a step above have
// written, it is reported as FAIL, and this one must not die of WRONGVERSION.
$at = $state();
$requestId = bin2hex(random_bytes(16));
$step = "4. EVENT.APPEND ... EXPECT {$at['stream']} ID {$requestId} BalanceDecreased {\"amount\":40}, sent twice";
$send = static fn (): Appended => $client->append($stream, Expect::version($at['stream']), $requestId, [new Event('BalanceDecreased', ['amount' => 40])]);
try {
    $first = $send();
    $same($step, $state(),
        static function () use ($send): string {
            $again = $send();

            return "[{$again->version}, {$again->position}]";
        },
        "accepted: [{$first->version}, {$first->position}]");
} catch (FoldbError $e) {
    ++$failures;
    printf("FAIL %s\n    -> the first send failed: %s: %s\n", $step, get_class($e), $e->getMessage());
}

$accounts->open($other, 'Transfer test');
$at = $state();
$same("5. transfer {$at['entity']->data['balance']} + 1 from {$id} to {$other}", $at,
    static fn () => $balance->transfer($id, $other, $at['entity']->data['balance'] + 1), InsufficientFunds::class);

$step = "6. MULTI, EVENT.APPEND account:{$other} BalanceIncreased {\"amount\":1}, EVENT.APPEND {$stream} BalanceDecreased {\"amount\":1000}, EXEC";
$same($step, $at, static function () use ($client, $stream, $other): void {
    try {
        $client->appendAll([
            new Append("account:{$other}", Expect::any(), null, [new Event('BalanceIncreased', ['amount' => 1])]),
            new Append($stream, Expect::any(), null, [new Event('BalanceDecreased', ['amount' => 1000])]),
        ]);
    } catch (Rejected $e) {
        throw new Rejected("{$e->getMessage()} (append {$e->command()} of 2)", 0, $e);
    }
}, Rejected::class . ': REJECTED insufficient funds (append 2 of 2)');

$accounts->close($id);
$closed = $state();
printf("closed %s: ENTITY.GET WITHVERSION -> [%s, %d]\n", $id, json_encode($closed['entity']->data), $closed['entity']->version);
$same('7. increase a closed account', $closed, static fn () => $balance->increase($id, 10), AccountNotFound::class);

$root = AccountAggregateRoot::find($id);
if ($root->exists() || $root->version() !== $closed['stream']) {
    ++$failures;
    echo "FAIL a closed account must be found absent, at its stream's version\n";
}

echo $failures === 0 ? "OK\n" : "{$failures} FAILED\n";
exit($failures === 0 ? 0 : 1);
