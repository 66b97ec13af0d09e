<?php

declare(strict_types=1);

namespace Bank;

use UnexpectedValueException;

/** Amounts are integers (cents): JSON numbers without a fraction. */
final class Money
{
    public static function fromJson(mixed $value): int
    {
        if (is_int($value)) {
            return $value;
        }
        if (is_float($value) && $value === floor($value) && abs($value) < 2 ** 53) {
            return (int) $value;
        }
        throw new UnexpectedValueException('Not a whole amount: ' . var_export($value, true));
    }
}
