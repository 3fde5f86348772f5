"""`ptc-gateway doctor`: check that everything the configured gateway needs is in order.

    checks = await run_checks(settings, os.environ)
    for check in checks: print(check.state, check.name, check.detail, check.fix)

See docs/doctor.md.
"""

from gateway.doctor._checks import (
    Check,
    CheckState,
    check_aws,
    check_docker,
    check_otel,
    check_servers,
    run_checks,
)

__all__ = ["Check", "CheckState", "check_aws", "check_docker", "check_otel", "check_servers", "run_checks"]
