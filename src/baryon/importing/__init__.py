"""Reading what AWS Proton left behind, for ``baryon import``.

Pure readers, like bundles/: the export directory a user made with the AWS CLI
(export_directory.py), the template bundles in it (export_bundles.py), the account's
Proton stacks through a CloudFormation client the caller hands in (stacks.py), which stack
belongs to which Proton resource (matching.py), and a bundle recovered from a deployed stack's
template where the real one is lost (recovered_bundle.py). What to do with all of it is the
domain's (domain/imports.py); the worker does the I/O (engine/imports.py).
"""
