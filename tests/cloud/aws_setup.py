#!/usr/bin/env python3
"""Gives a moto server (started with INITIAL_NO_AUTH_ACTION_COUNT) an IAM user with full access
and prints its access key as `ID SECRET`; every later request must be signed with real keys."""
import json
import sys

import boto3

url = sys.argv[1]
iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="berth")
key = iam.create_access_key(UserName="berth")["AccessKey"]
iam.put_user_policy(UserName="berth", PolicyName="all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
print(key["AccessKeyId"], key["SecretAccessKey"])
