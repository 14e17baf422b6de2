"""What an audit record says a call changed: which calls have a spec before worth reading."""

from __future__ import annotations

from baryon.domain import audit_subjects


def test_a_call_that_sends_a_spec_has_one_to_compare() -> None:
    request = {"serviceName": "s", "name": "i", "deploymentType": "CURRENT_VERSION", "spec": "x"}
    assert audit_subjects.sends_spec("UpdateServiceInstance", request)
    assert audit_subjects.sends_spec("UpdateComponent", {"name": "c", "serviceSpec": "x"})


def test_a_new_minor_without_a_spec_has_no_spec_to_compare() -> None:
    request = {"serviceName": "s", "name": "i", "deploymentType": "MINOR_VERSION"}
    assert not audit_subjects.sends_spec("UpdateServiceInstance", request)
    assert audit_subjects.spec_diff("UpdateServiceInstance", request, "before\n") is None


def test_a_call_that_sets_no_spec_has_none_to_compare_whatever_it_sends() -> None:
    assert not audit_subjects.sends_spec("DeleteServiceInstance", {"name": "i", "spec": "x"})
