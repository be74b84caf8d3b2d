#!/usr/bin/env python3
"""The EC2 test harness's side of moto (boto3), for tests/e2e/amazonec2.rs.

  ec2_harness.py URL setup SUBNET_CIDR...     IAM user + key (moto must have been started with
                                              INITIAL_NO_AUTH_ACTION_COUNT), an instance profile,
                                              a VPC 10.203.0.0/24 owned by the test with one subnet
                                              per CIDR; prints JSON
  ec2_harness.py URL wait NAME TIMEOUT        waits for the running instance tagged Name=NAME;
                                              prints JSON {ip, public_key} (its private IP and the
                                              key pair's public key, as cloud-init would install it)
  ec2_harness.py URL dump                     JSON of what the account holds (instances not
                                              terminated, key pairs, security groups, volumes,
                                              the default VPC)
  ec2_harness.py URL import-key NAME          imports a key pair NAME (a name already taken)
  ec2_harness.py URL seed-other NAME SUBNET   another store's machine NAME: a key pair, a security
                                              group and an instance tagged with its own
                                              berth-machine-id (what Berth must never touch)

Later commands read the keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (moto checks them).
"""
import base64
import json
import sys
import time

import boto3


def client(url, service="ec2"):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1")


def setup(url, cidrs):
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="berth")
    key = iam.create_access_key(UserName="berth")["AccessKey"]
    iam.put_user_policy(UserName="berth", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    session = dict(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                   region_name="us-east-1", endpoint_url=url)
    boto3.client("iam", **session).create_instance_profile(InstanceProfileName="berth-test-profile")
    ec2 = boto3.client("ec2", **session)
    vpc = ec2.create_vpc(CidrBlock="10.203.0.0/24")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
               for c in cidrs]
    print(json.dumps({"access_key": key["AccessKeyId"], "secret": key["SecretAccessKey"],
                      "vpc": vpc, "subnets": subnets}))


def wait(url, name, timeout):
    ec2 = client(url)
    deadline = time.time() + float(timeout)
    while time.time() < deadline:
        res = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [name]},
                                              {"Name": "instance-state-name", "Values": ["running"]}])
        for r in res["Reservations"]:
            for i in r["Instances"]:
                pair = ec2.describe_key_pairs(KeyNames=[i["KeyName"]], IncludePublicKey=True)["KeyPairs"][0]
                print(json.dumps({"ip": i["PrivateIpAddress"], "public_key": pair["PublicKey"].strip()}))
                return
        time.sleep(0.3)
    sys.exit(f"no running instance named {name} within {timeout} s")


def dump(url):
    ec2 = client(url)
    instances = []
    for r in ec2.describe_instances()["Reservations"]:
        for i in r["Instances"]:
            if i["State"]["Name"] == "terminated":
                continue
            user_data = ec2.describe_instance_attribute(InstanceId=i["InstanceId"], Attribute="userData")
            data = user_data.get("UserData", {}).get("Value")
            nic = (i.get("NetworkInterfaces") or [{}])[0]
            instances.append({
                "id": i["InstanceId"], "state": i["State"]["Name"], "type": i["InstanceType"],
                "image": i["ImageId"], "key": i.get("KeyName"), "subnet": i.get("SubnetId"),
                "private_ip": i.get("PrivateIpAddress"), "public_ip": i.get("PublicIpAddress"),
                "lifecycle": i.get("InstanceLifecycle", ""),
                "zone": i["Placement"]["AvailabilityZone"],
                "groups": [g["GroupId"] for g in nic.get("Groups", [])],
                "tags": {t["Key"]: t["Value"] for t in i.get("Tags", [])},
                "profile": i.get("IamInstanceProfile", {}).get("Arn", ""),
                "ebs_optimized": i.get("EbsOptimized", False),
                "monitoring": i.get("Monitoring", {}).get("State"),
                "user_data": base64.b64decode(data).decode() if data else None,
                "volumes": [m["Ebs"]["VolumeId"] for m in i.get("BlockDeviceMappings", [])],
            })
    volumes = {v["VolumeId"]: {"size": v["Size"], "type": v["VolumeType"], "state": v["State"],
                               "tags": {t["Key"]: t["Value"] for t in v.get("Tags", [])}}
               for v in ec2.describe_volumes()["Volumes"]}
    groups = [{"id": g["GroupId"], "name": g["GroupName"], "vpc": g["VpcId"],
               "tags": {t["Key"]: t["Value"] for t in g.get("Tags", [])},
               "rules": sorted(f'{p["IpProtocol"]}/{p.get("FromPort")}/{r["CidrIp"]}'
                               for p in g["IpPermissions"] for r in p.get("IpRanges", []))}
              for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"]
    keys = [{"name": k["KeyName"], "tags": {t["Key"]: t["Value"] for t in k.get("Tags", [])}}
            for k in ec2.describe_key_pairs()["KeyPairs"]]
    default_vpc = [v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]]
    print(json.dumps({"instances": instances, "volumes": volumes, "groups": groups, "keys": keys,
                      "default_vpc": default_vpc[0] if default_vpc else None}))


def import_key(url, name):
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/k"], check=True)
        with open(f"{d}/k.pub", "rb") as f:
            client(url).import_key_pair(KeyName=name, PublicKeyMaterial=f.read())


def seed_other(url, name, subnet):
    import subprocess
    import tempfile
    ec2 = client(url)
    tags = [{"Key": "berth-machine-id", "Value": "0123456789abcdef01234567"}, {"Key": "Name", "Value": name}]
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/k"], check=True)
        with open(f"{d}/k.pub", "rb") as f:
            ec2.import_key_pair(KeyName=f"other-{name}", PublicKeyMaterial=f.read(),
                                TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags}])
    vpc = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
    group = ec2.create_security_group(GroupName=f"other-{name}", Description="another store", VpcId=vpc,
                                      TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}])
    image = ec2.describe_images(Owners=["099720109477"])["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnet,
                      KeyName=f"other-{name}", SecurityGroupIds=[group["GroupId"]],
                      TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])


if __name__ == "__main__":
    url, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    {"setup": lambda: setup(url, args), "wait": lambda: wait(url, *args), "dump": lambda: dump(url),
     "import-key": lambda: import_key(url, *args), "seed-other": lambda: seed_other(url, *args)}[cmd]()
