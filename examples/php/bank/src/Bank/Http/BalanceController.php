<?php

declare(strict_types=1);

namespace Bank\Http;

use Bank\AccountAggregateRoot;
use Bank\Transfer;

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

    /**
     * Both accounts change, or neither. $transferId, e.g. a request's
     * idempotency key, makes a request sent again write the transfer once.
     *
     * @throws \Bank\InsufficientFunds
     */
    public function transfer(string $from, string $to, int $amount, ?string $transferId = null): Transfer
    {
        return Transfer::between($from, $to, $amount, $transferId)->persist();
    }
}
