<?php

declare(strict_types=1);

namespace Foldb;

/**
 * foldb is replaying its log after a start and does not run data commands
 * yet ("LOADING foldb is loading the dataset in memory"). Nothing ran: the
 * command can be sent again a moment later.
 */
final class Loading extends FoldbError
{
}
