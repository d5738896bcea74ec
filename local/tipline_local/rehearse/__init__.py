"""Deploy rehearsal: the SAM-transformed template.yaml, created as a stack in moto's CloudFormation.

    python -m tipline_local.rehearse            (or `make rehearse`)

It rehearses the main stack (template.yaml, in ap-southeast-1) and then the edge stack
(edge/waf.yaml, the console's web ACL, in us-east-1). Every resource is listed with its check:
  OK       created, and the settings that matter read back as declared
  SKIPPED  the emulator cannot create or report it (the reason is printed); what can be checked
           without it (its references, its declared settings) is still checked
  FAIL     missing, or a setting that differs from the declaration or breaks an invariant
           (a work queue without a DLQ, a FIFO queue with a standard DLQ, a visibility timeout under
           6x its consumer's timeout, an SQS event source without ReportBatchItemFailures, ...)
The exit status is 1 when any resource FAILs. Nothing leaves 127.0.0.1.

The package: ``model`` (results, parameters, template Rules), ``checks`` (one check a resource
type), ``engine`` (the stack in the emulator, and the command).
"""

from tipline_local.rehearse.engine import Rehearsal, main, rehearse
from tipline_local.rehearse.model import REHEARSAL_PARAMETERS, STACK, broken_rules

__all__ = ["REHEARSAL_PARAMETERS", "STACK", "Rehearsal", "broken_rules", "main", "rehearse"]
