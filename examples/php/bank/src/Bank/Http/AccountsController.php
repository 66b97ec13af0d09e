<?php

declare(strict_types=1);

namespace Bank\Http;

use Bank\Account;
use Bank\AccountAggregateRoot;

/** The controller of the original post: reads are one call to foldb. */
final class AccountsController
{
    /** @return list<Account> */
    public function index(): array
    {
        return Account::all();
    }

    public function show(string $id): Account
    {
        return Account::findOrFail($id);
    }

    /** @return list<Account> the richest accounts first */
    public function richest(int $limit = 10, int $above = 0): array
    {
        return Account::where("balance > {$above}", 'balance', 'desc', $limit);
    }

    public function open(string $id, string $name, int $initialDeposit = 0): AccountAggregateRoot
    {
        $account = AccountAggregateRoot::find($id)->open(self::uuid4(), $name);
        if ($initialDeposit > 0) {
            $account->increaseBalance($initialDeposit);
        }

        return $account->persist();
    }

    public function close(string $id): AccountAggregateRoot
    {
        return AccountAggregateRoot::find($id)->close()->persist();
    }

    private static function uuid4(): string
    {
        $b = random_bytes(16);
        $b[6] = chr(ord($b[6]) & 0x0f | 0x40);
        $b[8] = chr(ord($b[8]) & 0x3f | 0x80);

        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($b), 4));
    }
}
