import ast
from pathlib import Path

import cashmob.domain

FORBIDDEN = {"boto3", "botocore", "pynamodb", "stripe", "aws_lambda_powertools"}


def test_the_domain_imports_no_io_libraries():
    for path in Path(cashmob.domain.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
