"""The QA node: accepts C-STORE, applies rules, forwards accepted instances to the PACS."""

from simulator.nodes.qa.forwarder import Forwarder
from simulator.nodes.qa.rules import DEFAULT_RULES, Rule, Verdict, Violation, evaluate
from simulator.nodes.qa.service import QANode
from simulator.nodes.qa.spool import Spool, SpooledInstance

__all__ = ["DEFAULT_RULES", "Forwarder", "QANode", "Rule", "Spool", "SpooledInstance", "Verdict", "Violation",
           "evaluate"]
