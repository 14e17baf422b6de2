"""Errors the front door can answer with.

The seven modeled Proton errors plus the protocol-level errors AWS services send for
authentication and malformed requests. botocore picks the exception class from ``__type``
alone, so the class name here is the wire code.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error answered as ``{"__type": code, "message": ...}``."""

    code: str = "InternalServerException"
    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# The modeled errors (every Proton operation lists a subset of these).
class ValidationException(ApiError):
    code = "ValidationException"


class AccessDeniedException(ApiError):
    code = "AccessDeniedException"


class ThrottlingException(ApiError):
    code = "ThrottlingException"


class ResourceNotFoundException(ApiError):
    code = "ResourceNotFoundException"


class ConflictException(ApiError):
    code = "ConflictException"


class ServiceQuotaExceededException(ApiError):
    code = "ServiceQuotaExceededException"


class InternalServerException(ApiError):
    code = "InternalServerException"
    status = 500


# Protocol errors shared by all AWS JSON services; botocore shows them as ClientError codes.
class MissingAuthenticationTokenException(ApiError):
    code = "MissingAuthenticationTokenException"
    status = 403


class IncompleteSignatureException(ApiError):
    code = "IncompleteSignatureException"


class InvalidSignatureException(ApiError):
    code = "InvalidSignatureException"


class UnrecognizedClientException(ApiError):
    code = "UnrecognizedClientException"


class UnknownOperationException(ApiError):
    code = "UnknownOperationException"


class SerializationException(ApiError):
    code = "SerializationException"


class RequestTimeoutException(ApiError):
    """The client did not send its request body in time; SDKs retry this code."""

    code = "RequestTimeoutException"
    status = 408
