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

    /**
     * MULTI, the appends, EXEC: foldb writes all of them in one commit, or
     * none. Only appends: an error in EXEC's reply then always means that
     * nothing was written.
     *
     * @param non-empty-list<list<string|int>> $appends EVENT.APPEND commands
     *
     * @return list<mixed> each append's reply, in order
     *
     * @throws FoldbError     an append was refused, while queuing or at EXEC; nothing was
     *                        written. Refused at EXEC, this is the refused append's own
     *                        error (FoldbError::fromExec), and command() says which.
     * @throws ConnectionLost EXEC's reply was not received: all were written, or none
     */
    public function transaction(array $appends): array;
}
