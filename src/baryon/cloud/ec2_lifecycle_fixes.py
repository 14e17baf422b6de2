"""Deleting a stack's EC2 network resources in the local cloud as CloudFormation does.

moto's CloudFormation deletes a resource through the model's ``delete(account_id,
region_name)``, falling back to ``delete_from_cloudformation_json``; several EC2 models have
neither, so deleting their stack silently left them behind. Every AWS sample environment's
VPC then kept its attached internet gateway, its extra route tables and its NAT gateways
(each with an ENI and an Elastic IP), and its delete ended DELETE_FAILED with
DependencyViolation. A further leak: moto gives an instance's primary network interface
DeleteOnTermination=false, where AWS defaults it to true, so an Auto Scaling group's
terminated instance kept its ENI in the VPC. And moto's DeleteNatGateway (API or stack)
only marked the gateway deleted, keeping its ENI and its Elastic IP's association.

Each ``delete`` here goes through moto's own EC2 backend and treats a resource that is
already gone as deleted, as CloudFormation does. They are methods on the classes, so no
object gains an attribute that a state snapshot would have to carry.
"""

from __future__ import annotations

import contextlib
from enum import StrEnum
from typing import Any


class NatGatewayState(StrEnum):
    DELETED = "deleted"


def install() -> None:
    """Called once, under resource_lifecycle_fixes' install lock."""
    from moto.ec2.models.elastic_ip_addresses import ElasticAddress
    from moto.ec2.models.instances import Instance
    from moto.ec2.models.internet_gateways import InternetGateway
    from moto.ec2.models.nat_gateways import NatGateway, NatGatewayBackend
    from moto.ec2.models.route_tables import Route, RouteTable
    from moto.ec2.models.security_groups import SecurityGroupIngress
    from moto.ec2.models.subnets import SubnetRouteTableAssociation
    from moto.ec2.models.vpcs import VPCEndPoint
    from moto.ec2.models.vpn_gateway import VPCGatewayAttachment

    deletions: list[tuple[Any, Any]] = [
        (InternetGateway, _delete_internet_gateway),
        (VPCGatewayAttachment, _delete_gateway_attachment),
        (RouteTable, _delete_route_table),
        (Route, _delete_route),
        (SubnetRouteTableAssociation, _delete_subnet_association),
        (NatGateway, _delete_nat_gateway),
        (ElasticAddress, _release_address),
        (VPCEndPoint, _delete_vpc_endpoint),
        (SecurityGroupIngress, _revoke_ingress),
    ]
    for model, delete in deletions:
        model.delete = delete
    gateways: Any = NatGatewayBackend  # moto's classes are typed, their patching is not
    gateways.delete_nat_gateway = _nat_gateway_interface_freed(gateways.delete_nat_gateway)
    instance_model: Any = Instance
    instance_model.prep_nics = _primary_interfaces_deleted_on_termination(Instance.prep_nics)


def _ec2(account_id: str, region_name: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region_name]


def _delete_internet_gateway(gateway: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if gateway.id in backend.internet_gateways:
        # Still attached: moto raises DependencyViolation, as AWS does, and the stack's
        # delete retries once the VPCGatewayAttachment is gone.
        backend.delete_internet_gateway(gateway.id)


def _delete_gateway_attachment(attachment: Any, account_id: str, region_name: str) -> None:
    gateway = _ec2(account_id, region_name).internet_gateways.get(attachment.gateway_id)
    # The VPC may already be gone (moto does not refuse to delete a VPC with a gateway).
    if gateway is not None and gateway.vpc is not None and gateway.vpc.id == attachment.vpc_id:
        gateway.vpc = None


def _delete_route_table(table: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if table.id in backend.route_tables:
        backend.delete_route_table(table.id)


def _delete_route(route: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    table = backend.route_tables.get(route.route_table.id)
    if table is None or not any(held.id == route.id for held in table.routes):
        return
    prefix_list = route.destination_prefix_list
    backend.delete_route(
        table.id,
        route.destination_cidr_block,
        destination_ipv6_cidr_block=route.destination_ipv6_cidr_block,
        destination_prefix_list_id=prefix_list.id if prefix_list else None,
    )


def _delete_subnet_association(association: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    backend.subnet_associations.pop(f"{association.route_table_id}:{association.subnet_id}", None)
    table = backend.route_tables.get(association.route_table_id)
    if table is None:
        return
    # moto's CloudFormation association never reaches the table; one made otherwise would.
    for held in table.associations:
        if held.get("SubnetId") == association.subnet_id:
            backend.disassociate_route_table(held["RouteTableAssociationId"])


def _delete_nat_gateway(gateway: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    current = backend.nat_gateways.get(gateway.id)
    if current is not None and current.state != NatGatewayState.DELETED:
        backend.delete_nat_gateway(gateway.id)


def _nat_gateway_interface_freed(delete_nat_gateway: Any) -> Any:
    """moto's DeleteNatGateway (the API's and so the stack's) only marks the gateway deleted;
    AWS also disassociates its Elastic IP and deletes its network interface."""

    def delete(backend: Any, nat_gateway_id: str) -> Any:
        gateway = backend.nat_gateways.get(nat_gateway_id)
        if gateway is not None:
            interface = gateway._eni
            for address in list(backend.addresses):
                if address.eni is interface:
                    backend.disassociate_address(address=address.public_ip)
            if interface.id in backend.enis:
                backend.delete_network_interface(interface.id)
        # AWS, like moto, keeps a deleted NAT gateway visible as "deleted" for a while.
        return delete_nat_gateway(backend, nat_gateway_id)

    return delete


def _release_address(address: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if not any(held is address for held in backend.addresses):
        return
    if address.allocation_id:
        backend.release_address(allocation_id=address.allocation_id)
    else:
        backend.release_address(address=address.public_ip)


def _delete_vpc_endpoint(endpoint: Any, account_id: str, region_name: str) -> None:
    # moto marks the endpoint "deleted" and frees its interfaces or routes; a second call
    # finds nothing left to free.
    if endpoint.state != "deleted":
        _ec2(account_id, region_name).delete_vpc_endpoints([endpoint.id])


def _revoke_ingress(ingress: Any, account_id: str, region_name: str) -> None:
    from moto.ec2.exceptions import (
        InvalidPermissionNotFoundError,
        InvalidSecurityGroupNotFoundError,
    )

    properties = ingress.properties
    cidr = properties.get("CidrIp")
    source = {
        key: properties[name]
        for key, name in (
            ("GroupId", "SourceSecurityGroupId"),
            ("GroupName", "SourceSecurityGroupName"),
        )
        if properties.get(name)
    }
    ranges = [{"CidrIp": cidr, "Description": properties.get("Description")}] if cidr else []
    # The rule, or its group, may already be gone.
    with contextlib.suppress(InvalidPermissionNotFoundError, InvalidSecurityGroupNotFoundError):
        _ec2(account_id, region_name).revoke_security_group_ingress(
            group_name_or_id=ingress.security_group.id,
            ip_protocol=properties.get("IpProtocol"),
            from_port=properties.get("FromPort"),
            to_port=properties.get("ToPort"),
            ip_ranges=ranges,
            source_groups=[source] if source else [],
        )


def _primary_interfaces_deleted_on_termination(prep_nics: Any) -> Any:
    def prepare(instance: Any, nic_spec: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        existing = set(instance.ec2_backend.enis)
        stated = {int(nic["DeviceIndex"]) for nic in nic_spec if "DeleteOnTermination" in nic}
        prep_nics(instance, nic_spec, *args, **kwargs)
        for index, interface in instance.nics.items():
            # An interface created by the launch itself, without a stated choice.
            if interface.id not in existing and index not in stated:
                interface.delete_on_termination = True

    return prepare
