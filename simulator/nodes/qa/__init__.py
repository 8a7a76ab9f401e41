"""The QA node: accepts C-STORE, applies rules, forwards accepted instances to the PACS."""

from simulator.nodes.qa.forwarder import Forwarder
from simulator.nodes.qa.ledger import AuditEvent, Entry, Ledger, State
from simulator.nodes.qa.rules import DEFAULT_RULES, Rule, Verdict, Violation, evaluate
from simulator.nodes.qa.service import QANode
from simulator.nodes.qa.spool import Spool, SpooledInstance

__all__ = ["DEFAULT_RULES", "AuditEvent", "Entry", "Forwarder", "Ledger", "QANode", "Rule", "Spool", "SpooledInstance",
           "State", "Verdict", "Violation", "evaluate"]
