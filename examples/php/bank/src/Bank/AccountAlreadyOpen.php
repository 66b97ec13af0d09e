<?php

declare(strict_types=1);

namespace Bank;

final class AccountAlreadyOpen extends BankException
{
    public static function withId(string $id): self
    {
        return new self("account {$id} is already open");
    }
}
