"""Athena's rest-json routes, for the emulator's patch 31 (tests/harness/emulator.py).

AWS moved Athena's API to the REST-JSON protocol (HTTP method + path per operation, members bound to the
path, the query string or headers) alongside the older AWS JSON 1.1 protocol (POST /, X-Amz-Target):
botocore 1.44.18 models Athena as `rest-json` only, while the AWS SDK for Rust in Cargo.lock and
botocore up to 1.44.13 send JSON 1.1. moto 5.2.5 routes only JSON 1.1, so a current SDK got 404.

This table is data, derived from botocore 1.44.18's `botocore/data/athena/2017-05-18/service-2.json`
(Apache-2.0): for each operation, its HTTP method, its request URI template and the input members bound
outside the body as (location, locationName). Regenerate it from a newer botocore with
`python3 tests/harness/athena_rest_routes.py --from-model path/to/service-2.json`.
"""

from __future__ import annotations

ROUTES: dict[str, tuple[str, str, dict[str, tuple[str, str]]]] = {
    'BatchGetNamedQuery': ('POST', '/batch-get-named-queries', {}),
    'BatchGetPreparedStatement': ('POST', '/workgroups/{WorkGroup}/batch-get-prepared-statements', {'WorkGroup': ('uri', 'WorkGroup')}),
    'BatchGetQueryExecution': ('POST', '/batch-get-query-executions', {}),
    'CancelCapacityReservation': ('POST', '/capacity-reservations/{Name}/cancel', {'Name': ('uri', 'Name')}),
    'CreateCapacityReservation': ('POST', '/capacity-reservations', {}),
    'CreateDataCatalog': ('POST', '/data-catalogs', {}),
    'CreateNamedQuery': ('POST', '/named-queries', {}),
    'CreateNotebook': ('POST', '/workgroups/{WorkGroup}/notebooks', {'WorkGroup': ('uri', 'WorkGroup')}),
    'CreatePreparedStatement': ('POST', '/workgroups/{WorkGroup}/prepared-statements', {'WorkGroup': ('uri', 'WorkGroup')}),
    'CreatePresignedNotebookUrl': ('POST', '/sessions/{SessionId}/presigned-notebook-url', {'SessionId': ('uri', 'SessionId')}),
    'CreateSystemTableConfiguration': ('POST', '/system-tables/configurations', {}),
    'CreateWorkGroup': ('POST', '/workgroups', {}),
    'DeleteCapacityReservation': ('DELETE', '/capacity-reservations/{Name}', {'Name': ('uri', 'Name')}),
    'DeleteDataCatalog': ('DELETE', '/data-catalogs/{Name}', {'Name': ('uri', 'Name'), 'DeleteCatalogOnly': ('querystring', 'DeleteCatalogOnly')}),
    'DeleteNamedQuery': ('DELETE', '/named-queries/{NamedQueryId}', {'NamedQueryId': ('uri', 'NamedQueryId')}),
    'DeleteNotebook': ('DELETE', '/notebooks/{NotebookId}', {'NotebookId': ('uri', 'NotebookId')}),
    'DeletePreparedStatement': ('DELETE', '/workgroups/{WorkGroup}/prepared-statements/{StatementName}', {'StatementName': ('uri', 'StatementName'), 'WorkGroup': ('uri', 'WorkGroup')}),
    'DeleteSystemTableConfiguration': ('DELETE', '/system-tables/configurations/{TableName}', {'TableName': ('uri', 'TableName')}),
    'DeleteWorkGroup': ('DELETE', '/workgroups/{WorkGroup}', {'WorkGroup': ('uri', 'WorkGroup'), 'RecursiveDeleteOption': ('querystring', 'RecursiveDeleteOption')}),
    'ExportNotebook': ('GET', '/notebooks/{NotebookId}/export', {'NotebookId': ('uri', 'NotebookId')}),
    'GetCalculationExecution': ('GET', '/calculations/{CalculationExecutionId}', {'CalculationExecutionId': ('uri', 'CalculationExecutionId')}),
    'GetCalculationExecutionCode': ('GET', '/calculations/{CalculationExecutionId}/code', {'CalculationExecutionId': ('uri', 'CalculationExecutionId')}),
    'GetCalculationExecutionStatus': ('GET', '/calculations/{CalculationExecutionId}/status', {'CalculationExecutionId': ('uri', 'CalculationExecutionId')}),
    'GetCapacityAssignmentConfiguration': ('GET', '/capacity-reservations/{CapacityReservationName}/assignment-configuration', {'CapacityReservationName': ('uri', 'CapacityReservationName')}),
    'GetCapacityReservation': ('GET', '/capacity-reservations/{Name}', {'Name': ('uri', 'Name')}),
    'GetDataCatalog': ('GET', '/data-catalogs/{Name}', {'Name': ('uri', 'Name'), 'WorkGroup': ('querystring', 'WorkGroup')}),
    'GetDatabase': ('GET', '/data-catalogs/{CatalogName}/databases/{DatabaseName}', {'CatalogName': ('uri', 'CatalogName'), 'DatabaseName': ('uri', 'DatabaseName'), 'WorkGroup': ('querystring', 'WorkGroup')}),
    'GetNamedQuery': ('GET', '/named-queries/{NamedQueryId}', {'NamedQueryId': ('uri', 'NamedQueryId')}),
    'GetNotebookMetadata': ('GET', '/notebooks/{NotebookId}/metadata', {'NotebookId': ('uri', 'NotebookId')}),
    'GetPreparedStatement': ('GET', '/workgroups/{WorkGroup}/prepared-statements/{StatementName}', {'StatementName': ('uri', 'StatementName'), 'WorkGroup': ('uri', 'WorkGroup')}),
    'GetQueryExecution': ('GET', '/query-executions/{QueryExecutionId}', {'QueryExecutionId': ('uri', 'QueryExecutionId')}),
    'GetQueryResultStream': ('GET', '/query-executions/{QueryExecutionId}/result-stream', {'QueryExecutionId': ('uri', 'QueryExecutionId'), 'Range': ('header', 'Range')}),
    'GetQueryResults': ('GET', '/query-executions/{QueryExecutionId}/results', {'QueryExecutionId': ('uri', 'QueryExecutionId'), 'NextToken': ('querystring', 'NextToken'), 'MaxResults': ('querystring', 'MaxResults'), 'QueryResultType': ('querystring', 'QueryResultType')}),
    'GetQueryRuntimeStatistics': ('GET', '/query-executions/{QueryExecutionId}/runtime-statistics', {'QueryExecutionId': ('uri', 'QueryExecutionId')}),
    'GetResourceDashboard': ('GET', '/resource-dashboard/{ResourceARN}', {'ResourceARN': ('uri', 'ResourceARN')}),
    'GetSession': ('GET', '/sessions/{SessionId}', {'SessionId': ('uri', 'SessionId')}),
    'GetSessionEndpoint': ('GET', '/sessions/{SessionId}/endpoint', {'SessionId': ('uri', 'SessionId')}),
    'GetSessionStatus': ('GET', '/sessions/{SessionId}/status', {'SessionId': ('uri', 'SessionId')}),
    'GetSystemTableConfiguration': ('GET', '/system-tables/configurations/{TableName}', {'TableName': ('uri', 'TableName')}),
    'GetTableMetadata': ('GET', '/data-catalogs/{CatalogName}/databases/{DatabaseName}/tables/{TableName}', {'CatalogName': ('uri', 'CatalogName'), 'DatabaseName': ('uri', 'DatabaseName'), 'TableName': ('uri', 'TableName'), 'WorkGroup': ('querystring', 'WorkGroup')}),
    'GetWorkGroup': ('GET', '/workgroups/{WorkGroup}', {'WorkGroup': ('uri', 'WorkGroup')}),
    'ImportNotebook': ('POST', '/workgroups/{WorkGroup}/notebooks/import', {'WorkGroup': ('uri', 'WorkGroup')}),
    'ListApplicationDPUSizes': ('GET', '/application-dpu-sizes', {'MaxResults': ('querystring', 'MaxResults'), 'NextToken': ('querystring', 'NextToken')}),
    'ListCalculationExecutions': ('GET', '/sessions/{SessionId}/calculations', {'SessionId': ('uri', 'SessionId'), 'StateFilter': ('querystring', 'StateFilter'), 'MaxResults': ('querystring', 'MaxResults'), 'NextToken': ('querystring', 'NextToken')}),
    'ListCapacityReservations': ('GET', '/capacity-reservations', {'NextToken': ('querystring', 'NextToken'), 'MaxResults': ('querystring', 'MaxResults')}),
    'ListDataCatalogs': ('GET', '/data-catalogs', {'NextToken': ('querystring', 'NextToken'), 'MaxResults': ('querystring', 'MaxResults'), 'WorkGroup': ('querystring', 'WorkGroup')}),
    'ListDatabases': ('GET', '/data-catalogs/{CatalogName}/databases', {'CatalogName': ('uri', 'CatalogName'), 'NextToken': ('querystring', 'NextToken'), 'MaxResults': ('querystring', 'MaxResults'), 'WorkGroup': ('querystring', 'WorkGroup'), 'AttributesToGet': ('querystring', 'AttributesToGet')}),
    'ListEngineVersions': ('GET', '/engine-versions', {'NextToken': ('querystring', 'NextToken'), 'MaxResults': ('querystring', 'MaxResults')}),
    'ListExecutors': ('GET', '/sessions/{SessionId}/executors', {'SessionId': ('uri', 'SessionId'), 'ExecutorStateFilter': ('querystring', 'ExecutorStateFilter'), 'MaxResults': ('querystring', 'MaxResults'), 'NextToken': ('querystring', 'NextToken')}),
    'ListNamedQueries': ('GET', '/named-queries', {'NextToken': ('querystring', 'NextToken'), 'MaxResults': ('querystring', 'MaxResults'), 'WorkGroup': ('querystring', 'WorkGroup')}),
    'ListNotebookMetadata': ('POST', '/workgroups/{WorkGroup}/notebooks/list', {'WorkGroup': ('uri', 'WorkGroup')}),
    'ListNotebookSessions': ('GET', '/notebooks/{NotebookId}/sessions', {'NotebookId': ('uri', 'NotebookId'), 'MaxResults': ('querystring', 'MaxResults'), 'NextToken': ('querystring', 'NextToken')}),
    'ListPreparedStatements': ('GET', '/workgroups/{WorkGroup}/prepared-statements', {'WorkGroup': ('uri', 'WorkGroup'), 'NextToken': ('querystring', 'NextToken'), 'MaxResults': ('querystring', 'MaxResults')}),
    'ListQueryExecutions': ('GET', '/query-executions', {'NextToken': ('querystring', 'NextToken'), 'MaxResults': ('querystring', 'MaxResults'), 'WorkGroup': ('querystring', 'WorkGroup')}),
    'ListSessions': ('GET', '/workgroups/{WorkGroup}/sessions', {'WorkGroup': ('uri', 'WorkGroup'), 'StateFilter': ('querystring', 'StateFilter'), 'MaxResults': ('querystring', 'MaxResults'), 'NextToken': ('querystring', 'NextToken')}),
    'ListSystemTableStatuses': ('GET', '/system-tables/statuses', {'NextToken': ('querystring', 'NextToken'), 'MaxResults': ('querystring', 'MaxResults')}),
    'ListTableMetadata': ('GET', '/data-catalogs/{CatalogName}/databases/{DatabaseName}/tables', {'CatalogName': ('uri', 'CatalogName'), 'DatabaseName': ('uri', 'DatabaseName'), 'Expression': ('querystring', 'Expression'), 'NextToken': ('querystring', 'NextToken'), 'MaxResults': ('querystring', 'MaxResults'), 'WorkGroup': ('querystring', 'WorkGroup'), 'AttributesToGet': ('querystring', 'AttributesToGet')}),
    'ListTagsForResource': ('GET', '/tags/{ResourceARN}', {'ResourceARN': ('uri', 'ResourceARN'), 'NextToken': ('querystring', 'NextToken'), 'MaxResults': ('querystring', 'MaxResults')}),
    'ListWorkGroups': ('GET', '/workgroups', {'NextToken': ('querystring', 'NextToken'), 'MaxResults': ('querystring', 'MaxResults')}),
    'PutCapacityAssignmentConfiguration': ('PUT', '/capacity-reservations/{CapacityReservationName}/assignment-configuration', {'CapacityReservationName': ('uri', 'CapacityReservationName')}),
    'StartCalculationExecution': ('POST', '/sessions/{SessionId}/calculations', {'SessionId': ('uri', 'SessionId')}),
    'StartQueryExecution': ('POST', '/query-executions', {}),
    'StartSession': ('POST', '/workgroups/{WorkGroup}/sessions', {'WorkGroup': ('uri', 'WorkGroup')}),
    'StopCalculationExecution': ('POST', '/calculations/{CalculationExecutionId}/stop', {'CalculationExecutionId': ('uri', 'CalculationExecutionId')}),
    'StopQueryExecution': ('POST', '/query-executions/{QueryExecutionId}/stop', {'QueryExecutionId': ('uri', 'QueryExecutionId')}),
    'TagResource': ('POST', '/tags/{ResourceARN}', {'ResourceARN': ('uri', 'ResourceARN')}),
    'TerminateSession': ('POST', '/sessions/{SessionId}/terminate', {'SessionId': ('uri', 'SessionId')}),
    'UntagResource': ('DELETE', '/tags/{ResourceARN}', {'ResourceARN': ('uri', 'ResourceARN'), 'TagKeys': ('querystring', 'TagKeys')}),
    'UpdateCapacityReservation': ('PATCH', '/capacity-reservations/{Name}', {'Name': ('uri', 'Name')}),
    'UpdateDataCatalog': ('PATCH', '/data-catalogs/{Name}', {'Name': ('uri', 'Name')}),
    'UpdateNamedQuery': ('PATCH', '/named-queries/{NamedQueryId}', {'NamedQueryId': ('uri', 'NamedQueryId')}),
    'UpdateNotebook': ('PATCH', '/notebooks/{NotebookId}', {'NotebookId': ('uri', 'NotebookId')}),
    'UpdateNotebookMetadata': ('PATCH', '/notebooks/{NotebookId}/metadata', {'NotebookId': ('uri', 'NotebookId')}),
    'UpdatePreparedStatement': ('PATCH', '/workgroups/{WorkGroup}/prepared-statements/{StatementName}', {'StatementName': ('uri', 'StatementName'), 'WorkGroup': ('uri', 'WorkGroup')}),
    'UpdateSystemTableConfiguration': ('PATCH', '/system-tables/configurations/{TableName}', {'TableName': ('uri', 'TableName')}),
    'UpdateWorkGroup': ('PATCH', '/workgroups/{WorkGroup}', {'WorkGroup': ('uri', 'WorkGroup')}),
}


def _from_model(path: str) -> None:
    """Print the ROUTES literal for a botocore Athena service model (a rest-json one)."""
    import gzip
    import json

    raw = open(path, "rb").read()
    model = json.loads(gzip.decompress(raw) if path.endswith(".gz") else raw)
    for name, op in sorted(model["operations"].items()):
        members = model["shapes"][op["input"]["shape"]].get("members", {}) if "input" in op else {}
        bound = {k: (v["location"], v.get("locationName", k)) for k, v in members.items() if "location" in v}
        print(f"    {name!r}: ({op['http']['method']!r}, {op['http']['requestUri']!r}, {bound!r}),")


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--from-model":
        _from_model(sys.argv[2])
    else:
        sys.exit("usage: athena_rest_routes.py --from-model service-2.json[.gz]")
