<?php

declare(strict_types=1);

namespace Bank\Http;

use Bank\AccountAggregateRoot;

/** The controller of the original post: writes go through the aggregate root. */
final class BalanceController
{
    public function increase(string $id, int $amount): AccountAggregateRoot
    {
        return AccountAggregateRoot::find($id)->increaseBalance($amount)->persist();
    }

    /** @throws \Bank\InsufficientFunds */
    public function decrease(string $id, int $amount): AccountAggregateRoot
    {
        return AccountAggregateRoot::find($id)->decreaseBalance($amount)->persist();
    }
}
