<?php

declare(strict_types=1);

// php setup.php <accounts>
//
// Opens accounts 1..N (EXPECT NEW; an account already open is left as it is)
// and prints their balances, versions and the bank's totals as one JSON line:
// the baseline that check.php compares the end state with.

require __DIR__ . '/bootstrap.php';

use Bank\AccountAggregateRoot;
use Bank\AccountAlreadyOpen;
use Bank\Bank;
use Bank\Http\AccountsController;

$count = (int) ($argv[1] ?? 10);
$controller = new AccountsController();
$opened = 0;
$accounts = [];
for ($id = 1; $id <= $count; ++$id) {
    try {
        $controller->open((string) $id, "Account {$id}");
        ++$opened;
    } catch (AccountAlreadyOpen) {
        // idempotent: a second setup finds them open
    }
    $root = AccountAggregateRoot::find($id);
    $accounts[(string) $id] = ['balance' => $root->balance(), 'version' => $root->version()];
}
fwrite(STDERR, "setup: opened {$opened} of {$count} accounts\n");

echo json_encode(['accounts' => $accounts, 'totals' => Bank::totals()], JSON_THROW_ON_ERROR | JSON_FORCE_OBJECT), PHP_EOL;
