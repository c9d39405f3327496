"""Tables, grouped by concern. Importing this package registers every model on Base."""

from smsapp.models.agenda import Proposal, ProposalStatus, YouthLead
from smsapp.models.exports import ExportRun, ExportStatus
from smsapp.models.messages import (
    EarlyStatus,
    InboundMessage,
    OutboundMessage,
    OutboundStatus,
    UnknownSenderReply,
)
from smsapp.models.people import (
    Group,
    GroupMembership,
    NumberStatus,
    Participant,
    ParticipantStatus,
)
from smsapp.models.polls import Answer, Conversation, ConversationStatus, Poll, PollStatus
from smsapp.models.record import GrowthTag
from smsapp.models.safeguarding import SafeguardingFlag
from smsapp.models.staff import ROLES, AuditEvent, LoginThrottle, StaffUser
from smsapp.models.voting import (
    Nomination,
    NominationStatus,
    TallyRequest,
    TallyRequestStatus,
    TallyRun,
)

__all__ = [
    "ROLES",
    "Answer",
    "AuditEvent",
    "Conversation",
    "ConversationStatus",
    "ExportRun",
    "ExportStatus",
    "Group",
    "GroupMembership",
    "GrowthTag",
    "InboundMessage",
    "LoginThrottle",
    "Nomination",
    "NominationStatus",
    "NumberStatus",
    "OutboundMessage",
    "OutboundStatus",
    "Participant",
    "ParticipantStatus",
    "Poll",
    "PollStatus",
    "Proposal",
    "ProposalStatus",
    "SafeguardingFlag",
    "StaffUser",
    "TallyRequest",
    "TallyRequestStatus",
    "TallyRun",
    "UnknownSenderReply",
    "EarlyStatus",
    "YouthLead",
]
