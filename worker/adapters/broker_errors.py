"""The broker adapter's errors, and what each of pika's failures means as one of them: the broker
refused us (for good: `BrokerRefused`, `TopologyMismatch`), or it is not there, dropped us or closed
the channel (for now: `BrokerUnavailable`, `PublishRefused`).

Raises nothing itself: `worker.adapters.broker` raises these, translated here from pika's own.
"""

import ssl

import pika
import pika.exceptions

from worker.errors import ConfigurationError, PermanentError, TransientError

ACCESS_REFUSED = 403
_PRECONDITION_FAILED = 406
CONNECTION_ERRORS = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.StreamLostError,
    pika.exceptions.ConnectionClosed,
    pika.exceptions.ConnectionWrongStateError,
    pika.exceptions.ChannelWrongStateError,
    OSError,  # refused, reset, a name that does not resolve (yet)
)


class BrokerUnavailable(TransientError):
    """Raised when RabbitMQ cannot be reached or the connection dropped; retry later."""


class BrokerRefused(ConfigurationError):
    """Raised when RabbitMQ refuses the credentials, the vhost or a permission: retrying cannot help."""


class PublishRefused(TransientError):
    """Raised when the broker nacked or returned a message: it was not handed over."""


class MessageTooLarge(PublishRefused):
    """Raised when a message is over the broker's message size limit (the channel was closed)."""


class TopologyMismatch(PermanentError):
    """Raised when a queue exists with other arguments than the ones this version declares."""


def connection_error(error: Exception, parameters: pika.URLParameters) -> TransientError | PermanentError:
    """What a failure to connect means: the broker refused us (for good), or it is not there (for now)."""
    user = getattr(parameters.credentials, "username", "?")
    vhost = parameters.virtual_host
    if isinstance(error, pika.exceptions.ProbableAuthenticationError | pika.exceptions.AuthenticationError):
        return BrokerRefused(f"RabbitMQ refused the credentials of user {user!r}")
    if isinstance(error, pika.exceptions.ProbableAccessDeniedError):
        return BrokerRefused(
            f"RabbitMQ refused user {user!r} access to vhost {vhost!r} (no such vhost, or no permission)"
        )
    if isinstance(error, pika.exceptions.ConnectionClosedByBroker) and error.reply_code in (ACCESS_REFUSED, 530):
        return BrokerRefused(f"RabbitMQ refused the connection: {error.reply_text}")
    if isinstance(error, ssl.SSLError):
        return tls_error(error, f"{parameters.host}:{parameters.port}")
    detail = str(error.args[0]) if error.args else type(error).__name__
    return BrokerUnavailable(f"RabbitMQ unreachable at {parameters.host}:{parameters.port}: {detail}")


def tls_error(error: ssl.SSLError, where: str) -> TransientError | PermanentError:
    """A failed TLS handshake: a plain port or a certificate not trusted cannot heal by waiting."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return BrokerRefused(f"TLS with RabbitMQ at {where} failed: {error.verify_message or error.reason}")
    if error.reason == "WRONG_VERSION_NUMBER":
        return BrokerRefused(
            f"TLS with RabbitMQ at {where} failed: the port does not speak TLS (amqps:// is usually port 5671)"
        )
    return BrokerUnavailable(f"TLS with RabbitMQ at {where} failed: {error.reason or error}")


def channel_error(error: pika.exceptions.ChannelClosedByBroker) -> TransientError | PermanentError:
    """What a channel closed by the broker means: a refused permission, a message over the size
    limit, or (anything else) a failure that reconnecting and redeclaring can mend."""
    if error.reply_code == ACCESS_REFUSED:
        return BrokerRefused(f"RabbitMQ refused: {error.reply_text}")
    if error.reply_code == _PRECONDITION_FAILED and "max size" in error.reply_text:
        return MessageTooLarge(f"RabbitMQ refused a message: {error.reply_text}")
    return BrokerUnavailable(f"RabbitMQ closed the channel: ({error.reply_code}) {error.reply_text}")
