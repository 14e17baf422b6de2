"""The rules of Proton's resources: lifecycles, versions, compatibility. No wire, no cloud."""
