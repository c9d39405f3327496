"""The file formats of the research exports, pure: safe cells, the exact columns, and the FLOIP
package. The service that streams rows into them is smsapp.services.research.exports."""
