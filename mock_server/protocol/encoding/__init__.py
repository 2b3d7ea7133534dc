"""The dialect encoders: each dialect's wire shapes, both ways, behind one interface.

Inside the mock everything is held in one neutral (GA) form: the session configuration, the
conversation items, the events under their GA names. An :class:`Encoder` is what a connection's
dialect adds at the edge: it renders the session object, items and the response object for the
wire, renames events, answers the few questions where the dialects' event sequences differ
(``conversation.item.created`` for beta, ``.added`` then ``.done`` for GA) and reads the
client's shapes (``session.update``, items, ``response.create`` settings) into the neutral form.
:func:`encoder_for` picks one; the session is given one at construction and never asks which
dialect it speaks. The GA encoder is in :mod:`.ga`, the beta one in :mod:`.beta`.
"""

from __future__ import annotations

from mock_server.protocol.encoding import beta, ga
from mock_server.protocol.encoding.base import Encoder, ResponseSettings
from mock_server.protocol.events import Dialect

__all__ = ["Encoder", "ResponseSettings", "encoder_for"]


def encoder_for(dialect: Dialect) -> Encoder:
    """The encoder of ``dialect`` (encoders hold no state: one each is shared).

    >>> encoder_for(Dialect.BETA).event_name("response.output_text.delta")
    'response.text.delta'
    """
    return ga.ENCODER if dialect is Dialect.GA else beta.ENCODER
