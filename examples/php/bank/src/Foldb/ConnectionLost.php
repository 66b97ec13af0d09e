<?php

declare(strict_types=1);

namespace Foldb;

use RuntimeException;

/**
 * The connection failed before a reply arrived. A write may or may not have
 * happened: resend it with the same ID and foldb answers the first result.
 */
final class ConnectionLost extends RuntimeException
{
}
