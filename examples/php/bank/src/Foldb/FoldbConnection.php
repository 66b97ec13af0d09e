<?php

declare(strict_types=1);

namespace Foldb;

/**
 * The one thing the app needs from a Redis client: send a command, get the
 * raw reply back.
 *
 * Replies are normalized across clients: a bulk string is a string, an
 * integer an int, an array a list, nil is null (also inside arrays), a
 * status reply is its text ("OK"). An error reply throws FoldbError (or one
 * of its subclasses); a broken connection throws ConnectionLost, after
 * which the next command reconnects.
 */
interface FoldbConnection
{
    /**
     * @param list<string|int> $args the command name and its arguments
     *
     * @throws FoldbError     the server answered with an error
     * @throws ConnectionLost the reply was not received; the command may or may not have run
     */
    public function command(array $args): mixed;
}
