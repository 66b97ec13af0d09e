<?php

declare(strict_types=1);

namespace Bank;

use RuntimeException;

/** Others kept writing to the account first, try after try; nothing was written. */
final class ConcurrencyConflict extends RuntimeException
{
}
