<?php

declare(strict_types=1);

namespace Bank;

final class InvalidAmount extends BankException
{
    public static function of(int $amount): self
    {
        return new self("an amount must be positive, got {$amount}");
    }
}
