<?php

declare(strict_types=1);

namespace Bank;

final class AccountNotFound extends BankException
{
    public static function withId(string $id): self
    {
        return new self("account {$id} is not open");
    }
}
